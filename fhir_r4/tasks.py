"""The worker's FHIR tasks: bulk exports, and deleting them once they expire."""

from procrastinate.contrib.django import app

from events.tasks import DATABASE_UNAVAILABLE

from .exports import export_run, exports_expire


@app.task(queue="exports", name="fhir.export", retry=DATABASE_UNAVAILABLE)
def run_export(export_id: str) -> None:
    export_run(export_id=export_id)


@app.periodic(cron="*/10 * * * *", periodic_id="fhir-export-expiry")
@app.task(queue="exports", name="fhir.expire_exports")
def expire_exports(timestamp: int) -> None:
    exports_expire()
