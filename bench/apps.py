from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Benchmark tooling: the practice generator and the baseline views. Installed only by
    config.settings.bench, never in production."""

    name = "bench"
    verbose_name = "Benchmark"
