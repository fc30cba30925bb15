"""chart_rows: the source's chart rows, validated; rejected rows kept beside them with a reason."""

import dagster as dg

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, markdown_table, parquet_metadata, rounded, tags
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.engines.base import EngineError, NoValidChartRows
from music_assets.ingest.charts.csv_files import ChartFileError
from music_assets.ingest.charts.rows import CHART_ROW_SCHEMA, REJECTED_ROW_SCHEMA, ChartLoadReport, MissingColumnsError
from music_assets.ingest.layouts.choose import INPUT_ERRORS


def progress_line(rows: int, elapsed: float, src: object) -> str:
    """rows read, rate, and for files the share read and an ETA (total rows are not known up front)."""
    rate = rows / max(elapsed, 1e-9)
    line = f"{rows:,} read, {rate:,.0f} rows/s"
    fraction = getattr(src, "fraction_read", None)
    if fraction:
        eta = elapsed * (1 - fraction) / fraction
        line += f", {fraction:.0%} of the file, ETA {eta:,.0f} s"
    return line


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="ingest", kinds={"parquet"}, owners=OWNERS, tags=tags("ingest"), code_version="1")
def chart_rows(context: dg.AssetExecutionContext, store: DataStore, source: SourceResource,
               engine: EngineResource) -> dg.MaterializeResult:
    """Chart rows in the Kaggle spotify-charts layout, typed, with the track id parsed from the URL.

    The engine streams the source batch by batch, so memory does not grow with the file. Malformed
    rows (bad values, or lines with the wrong number of fields) are counted, written to
    chart_rows_rejected.parquet with a reason, and sampled in the metadata.
    """
    src = source.open()
    runner = engine.engine()
    path, rejected_path = store.asset_path("chart_rows"), store.asset_path("chart_rows_rejected")
    if not getattr(src, "has_charts", True):  # a catalog alone: no chart rows, said so
        context.log.info(f"chart rows: source {source.kind!r} has no chart files (catalog only); "
                         "unique_tracks takes its tracks from the catalog")
        storage.write_parquet(CHART_ROW_SCHEMA.empty_table(), path)
        storage.write_parquet(REJECTED_ROW_SCHEMA.empty_table(), rejected_path)
        return dg.MaterializeResult(metadata=parquet_metadata(path, source=source.kind, charts="none (catalog only)",
                                                              rows_read=0, rows_rejected=0))

    def progress(report: ChartLoadReport, elapsed: float) -> None:
        context.log.info(f"chart rows: {progress_line(report.rows_read, elapsed, src)}, "
                         f"{report.rows_rejected:,} rejected so far")

    try:
        load = runner.load_chart_rows(src, path, progress)
    except NoValidChartRows as exc:  # the previous chart_rows file stays in place; the rejects are kept
        storage.write_parquet(exc.load.rejected, rejected_path)
        report = exc.load.report
        why = (f"every one of its {report.rows_read:,} rows was rejected ("
               + ", ".join(f"{reason}: {n:,}" for reason, n in report.reasons.items())
               + f"); the rejected rows are in {rejected_path}") if report.rows_read else "it has a header but no data rows"
        raise dg.Failure(
            f"source {src.name!r} produced no valid chart rows: {exc.load.describe}: {why}",
            metadata={"rows_read": report.rows_read, "rejected_reasons": dg.MetadataValue.json(report.reasons),
                      "rejected_path": dg.MetadataValue.path(str(rejected_path))}) from None
    except (MissingColumnsError, ChartFileError, EngineError, *INPUT_ERRORS) as exc:
        raise dg.Failure(str(exc)) from exc
    report = load.report
    understood = getattr(src, "charts_understood", lambda: [])()
    for item in understood:
        context.log.info(f"chart rows: understood {item}")
    context.log.info(f"chart rows ({runner.name}): {report.rows_read:,} read in {load.elapsed_s:,.1f} s, "
                     f"{report.rows_kept:,} kept, {report.rows_rejected:,} rejected")
    storage.write_parquet(load.rejected, rejected_path)
    if report.rows_rejected:
        context.log.warning(f"{report.rows_rejected:,} malformed chart rows kept aside in {rejected_path}: {report.reasons}")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            source=source.kind,
            engine=runner.name,
            **({"layouts_understood": dg.MetadataValue.json(understood)} if understood else {}),
            rows_read=report.rows_read,
            rows_rejected=report.rows_rejected,
            rejected_reasons=dg.MetadataValue.json(report.reasons),
            rejected_path=dg.MetadataValue.path(str(rejected_path)),
            rejected_sample=markdown_table(load.rejected.slice(0, 10).to_pandas(), rows=10),
            rows_per_second=rounded(report.rows_read / max(load.elapsed_s, 1e-9), 1),
        )
    )
