"""chart_rows: raw chart rows from the source, validated; rejected rows kept beside them."""

import dagster as dg

from music_assets.assets.metadata import markdown_table, parquet_metadata
from music_assets.core import storage
from music_assets.core.chart_ingest import ingest_chart_batches
from music_assets.core.charts import CHART_ROW_SCHEMA, CHART_ROW_STATISTICS, ChartLoadReport, MissingColumnsError
from music_assets.core.sources.files_charts import ChartFileError
from music_assets.resources import DataStore, SourceResource


def progress_line(rows: int, elapsed: float, src: object) -> str:
    """rows read, rate, and for files the share read and an ETA (total rows are not known up front)."""
    rate = rows / max(elapsed, 1e-9)
    line = f"{rows:,} read, {rate:,.0f} rows/s"
    fraction = getattr(src, "fraction_read", None)
    if fraction:
        eta = elapsed * (1 - fraction) / fraction
        line += f", {fraction:.0%} of the file, ETA {eta:,.0f} s"
    return line


@dg.asset(group_name="ingest", kinds={"parquet", "pyarrow"})
def chart_rows(context: dg.AssetExecutionContext, store: DataStore, source: SourceResource) -> dg.MaterializeResult:
    """Chart rows in the Kaggle spotify-charts layout, typed, with the track id parsed from the URL.

    Streams the source batch by batch, so memory does not grow with the file. Malformed rows
    (bad values, or lines with the wrong number of fields) are counted, written to
    chart_rows_rejected.parquet with a reason, and sampled in the metadata.
    """
    src = source.open()
    path, rejected_path = store.asset_path("chart_rows"), store.asset_path("chart_rows_rejected")

    def progress(report: ChartLoadReport, elapsed: float) -> None:
        context.log.info(f"chart rows: {progress_line(report.rows_read, elapsed, src)}, "
                         f"{report.rows_rejected:,} rejected so far")

    try:
        with storage.parquet_writer(path, CHART_ROW_SCHEMA, write_statistics=CHART_ROW_STATISTICS) as writer:
            result = ingest_chart_batches(src.chart_batches(), writer.write_table,
                                          source=getattr(src, "describe", src.name),
                                          drain=getattr(src, "parse_rejects", None), progress=progress)
            report, elapsed = result.report, result.elapsed_s
            context.log.info(f"chart rows: {report.rows_read:,} read in {elapsed:,.1f} s, "
                             f"{report.rows_kept:,} kept, {report.rows_rejected:,} rejected")
            if report.rows_kept == 0:  # raised inside the writer block: the previous asset stays
                raise dg.Failure(f"source {src.name!r} produced no valid chart rows ({report.rows_read:,} read): "
                                 f"{getattr(src, 'describe', src.name)} has a header but no usable data?")
    except (MissingColumnsError, ChartFileError) as exc:
        raise dg.Failure(str(exc)) from exc
    rejected_table = result.rejected
    storage.write_parquet(rejected_table, rejected_path)
    if report.rows_rejected:
        context.log.warning(f"{report.rows_rejected:,} malformed chart rows kept aside in {rejected_path}: {report.reasons}")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            source=src.name,
            rows_read=report.rows_read,
            rows_rejected=report.rows_rejected,
            rejected_reasons=dg.MetadataValue.json(report.reasons),
            rejected_path=dg.MetadataValue.path(str(rejected_path)),
            rejected_sample=markdown_table(rejected_table.slice(0, 10).to_pandas(), rows=10),
            rows_per_second=dg.MetadataValue.float(report.rows_read / max(elapsed, 1e-9)),
        )
    )
