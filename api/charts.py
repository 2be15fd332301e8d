"""Charts the API draws from what the domain computes: a case's outcomes over time as a PNG.

A renderer like any other: the view answers the domain's `CaseOutcomes`, and this draws it.
"""

import io
import textwrap

from rest_framework.renderers import BaseRenderer

from clinical import instruments


class ChartRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return render_chart(data)


class ChartDownloadRenderer(ChartRenderer):
    """The same PNG for a client that asks for plain bytes (`Accept: application/octet-stream`): code generators
    that know no image types (openapi-python-client) take this one and hand the caller the bytes."""

    media_type = "application/octet-stream"
    format = "bin"


def render_chart(outcomes) -> bytes:
    """A PNG: one panel per measure with scores (built-in first, then the practice's own by code), each client a
    line, the bands and the cut-off of the version the measure's latest score was scored with."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    codes = list(outcomes.measures)
    panels = max(1, len(codes))
    figure, axes = plt.subplots(panels, 1, figsize=(8, 3.2 * panels), squeeze=False, constrained_layout=True)
    colours = ["#6b3e75", "#d9822b"]
    names = {c.pk: (c.preferred_name or c.given_name) for c in outcomes.clients}
    if not codes:
        ax = axes[0][0]
        ax.text(0.5, 0.5, "No assessments yet", ha="center", va="center", fontsize=14, color="#666")
        ax.set_axis_off()
    for ax, code in zip((row[0] for row in axes), codes, strict=False):
        instrument = outcomes.measures[code]
        _draw_bands(ax, instrument)
        for colour, client in zip(colours, outcomes.clients, strict=False):
            points = outcomes.series.get(client.pk, {}).get(code, [])
            if points:
                ax.plot(
                    [p.administered_at for p in points],
                    [p.total for p in points],
                    marker="o",
                    linewidth=2,
                    color=colour,
                    label=names[client.pk],
                )
        better = "lower is better" if instrument.direction == instruments.LOWER_IS_BETTER else "higher is better"
        name = textwrap.shorten(instrument.name, width=70, placeholder="…")
        ax.set_title(f"{name} ({better})", fontsize=11, loc="left")
        ax.set_ylim(instrument.min_total - 0.5, instrument.max_total + 0.5)
        # Matplotlib's own ticks (AutoLocator's steps), but whole numbers: a short scale (0-12) gets no 2.5 steps.
        ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
        ax.set_ylabel("Total score")
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.grid(axis="y", alpha=0.25)
        ax.legend(loc="upper left", fontsize=9, frameon=False)
    figure.suptitle("Outcome measures over time", fontsize=13)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


SHADES = ["#e8f5e9", "#fff8e1", "#ffe0b2", "#ffccbc", "#ffcdd2"]  # from the best band to the worst


def band_shades(count: int, direction: str) -> list[str]:
    """A shade per band, lowest band first, from green (best) to red (worst) in the measure's direction: up to five
    bands where lower is better take the first shades (PHQ-9's five, GAD-7's four); otherwise the shades are spread
    from the best to the worst (CSI-4's two: red, green), interpolated between them beyond five bands."""
    if direction == instruments.LOWER_IS_BETTER and count <= len(SHADES):
        return SHADES[:count]
    if count <= 1:
        spread = SHADES[:count]
    elif count <= len(SHADES):
        spread = [SHADES[round(i * (len(SHADES) - 1) / (count - 1))] for i in range(count)]
    else:
        from matplotlib.colors import LinearSegmentedColormap, to_hex

        scale = LinearSegmentedColormap.from_list("bands", SHADES)
        spread = [to_hex(scale(i / (count - 1))) for i in range(count)]
    return spread if direction == instruments.LOWER_IS_BETTER else spread[::-1]


def _draw_bands(ax, instrument) -> None:
    shades = band_shades(len(instrument.bands), instrument.direction)
    for shade, band in zip(shades, instrument.bands, strict=True):
        ax.axhspan(band.low - 0.5, band.high + 0.5, color=shade, alpha=0.6, linewidth=0)
        ax.text(
            1.005,
            (band.low + band.high) / 2,
            band.label,
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            va="center",
            color="#555",
        )
    if instrument.case_at_or_above is not None:
        line, label = instrument.case_at_or_above - 0.5, f"caseness: {instrument.case_at_or_above:g} or more"
    else:
        line, label = instrument.case_below, f"distress: below {instrument.case_below:g}"
    ax.axhline(line, color="#b71c1c", linestyle="--", linewidth=1, label=label)
