"""The bundle a run built, handed from recommender_model to every step that finishes it.

recommender_model's output is a BundleRef: the version it built and the folder it is in. The
reference travels the way Dagster passes any asset value, through an IO manager, but this one
stores nothing of its own: the reference is the materialization's metadata (`bundle_ref`), and a
downstream step reads it back from the event log of its own run. Two runs on one data folder
therefore never read each other's build, and nothing falls back to the published LATEST. When
recommender_model is not part of the run (the launchpad materializes model_quality alone), the
input is its latest materialization: Dagster's own record of the asset's current value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dagster as dg

from music_assets import storage

METADATA_KEY = "bundle_ref"


@dataclass(frozen=True)
class BundleRef:
    version: str
    path: str  # the bundle folder: a local path or an object-store URL

    @property
    def folder(self) -> storage.StorePath:
        return storage.as_path(self.path)


class BundleRefIOManager(dg.IOManager):
    def handle_output(self, context: dg.OutputContext, obj: BundleRef) -> None:
        context.add_output_metadata({METADATA_KEY: dg.MetadataValue.json(asdict(obj))})

    def load_input(self, context: dg.InputContext) -> BundleRef:
        key = context.asset_key
        materialization = self._from_this_run(context, key) or self._latest(context, key)
        if materialization is None or METADATA_KEY not in materialization.metadata:
            raise dg.Failure(f"no bundle to finish: materialize {key.to_user_string()} first "
                             "(in this run, or before it)")
        return BundleRef(**materialization.metadata[METADATA_KEY].value)

    @staticmethod
    def _from_this_run(context: dg.InputContext, key: dg.AssetKey) -> dg.AssetMaterialization | None:
        try:
            run_id = context.upstream_output.run_id if context.upstream_output else None
        except dg.DagsterInvariantViolationError:  # loaded from an earlier run: no run id here
            run_id = None
        if run_id is None:
            return None
        records = context.instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        found = [r.event_log_entry.asset_materialization for r in records]
        found = [m for m in found if m is not None and m.asset_key == key]
        return found[-1] if found else None

    @staticmethod
    def _latest(context: dg.InputContext, key: dg.AssetKey) -> dg.AssetMaterialization | None:
        entry = context.instance.get_latest_materialization_event(key)
        return entry.asset_materialization if entry else None


@dg.io_manager
def bundle_ref_io_manager() -> BundleRefIOManager:
    return BundleRefIOManager()

