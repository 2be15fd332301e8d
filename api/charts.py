"""Charts the API draws from what the domain computes: a case's outcomes over time as a PNG.

A renderer like any other: the view answers the domain's `CaseOutcomes`, and this draws it.
"""

import io

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
    """A PNG: one panel per instrument with scores, each client a line, band limits or the cut-off drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt

    codes = [code for code in instruments.INSTRUMENTS if any(code in s for s in outcomes.series.values())]
    panels = max(1, len(codes))
    figure, axes = plt.subplots(panels, 1, figsize=(8, 3.2 * panels), squeeze=False, constrained_layout=True)
    colours = ["#6b3e75", "#d9822b"]
    names = {c.pk: (c.preferred_name or c.given_name) for c in outcomes.clients}
    if not codes:
        ax = axes[0][0]
        ax.text(0.5, 0.5, "No assessments yet", ha="center", va="center", fontsize=14, color="#666")
        ax.set_axis_off()
    for ax, code in zip((row[0] for row in axes), codes, strict=False):
        instrument = instruments.INSTRUMENTS[code]
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
        ax.set_title(f"{instrument.name} ({better})", fontsize=11, loc="left")
        ax.set_ylim(instrument.min_total - 0.5, instrument.max_total + 0.5)
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


def _draw_bands(ax, instrument) -> None:
    shades = ["#e8f5e9", "#fff8e1", "#ffe0b2", "#ffccbc", "#ffcdd2"]
    if instrument.direction == instruments.HIGHER_IS_BETTER:
        shades = ["#ffcdd2", "#e8f5e9"]
    for shade, band in zip(shades, instrument.bands, strict=False):
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
