"""chart_rows: raw chart rows from the source, validated; rejected rows kept beside them."""

import dagster as dg
import pyarrow as pa

from music_assets.assets.metadata import markdown_table, parquet_metadata
from music_assets.core import storage
from music_assets.core.charts import CHART_ROW_SCHEMA, REJECTED_ROW_SCHEMA, ChartLoadReport, validate_chart_batch
from music_assets.resources import DataStore, SourceResource


@dg.asset(group_name="ingest", kinds={"parquet", "pyarrow"})
def chart_rows(context: dg.AssetExecutionContext, store: DataStore, source: SourceResource) -> dg.MaterializeResult:
    """Chart rows in the Kaggle spotify-charts layout, typed, with the track id parsed from the URL.

    Streams the source batch by batch, so memory does not grow with the file. Malformed rows are
    counted, written to chart_rows_rejected.parquet with a reason, and sampled in the metadata.
    """
    src = source.open()
    path, rejected_path = store.asset_path("chart_rows"), store.asset_path("chart_rows_rejected")
    report = ChartLoadReport()
    rejected: list[pa.Table] = []
    with storage.parquet_writer(path, CHART_ROW_SCHEMA) as writer:
        for batch in src.chart_batches():
            checked = validate_chart_batch(batch, source=getattr(src, "describe", src.name))
            report.add(checked)
            writer.write_table(checked.good)
            if checked.rejected.num_rows:
                rejected.append(checked.rejected)
            context.log.info(f"chart rows: {report.rows_read:,} read, {report.rows_rejected:,} rejected so far")
    if report.rows_kept == 0:
        raise dg.Failure(f"source {src.name!r} produced no valid chart rows ({report.rows_read:,} read)")
    rejected_table = pa.concat_tables(rejected) if rejected else REJECTED_ROW_SCHEMA.empty_table()
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
        )
    )
