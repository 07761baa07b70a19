"""Shows a meme's text with its technique spans highlighted in the terminal (rich)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from meme_keras.data.meme import Span

# Distinct background colours, one per technique of the 22 (in the order of the run's list).
PALETTE = (
    "red3",
    "dark_orange3",
    "gold3",
    "green4",
    "dark_cyan",
    "dodger_blue2",
    "purple3",
    "magenta3",
    "deep_pink3",
    "chartreuse4",
    "steel_blue",
    "orchid",
    "dark_red",
    "orange4",
    "yellow4",
    "sea_green3",
    "turquoise4",
    "slate_blue3",
    "medium_purple4",
    "hot_pink3",
    "grey37",
    "light_salmon3",
)


def technique_colours(techniques: Sequence[str]) -> dict[str, str]:
    """One colour per technique, by its position in `techniques`: the same in every meme."""
    return {technique: PALETTE[k % len(PALETTE)] for k, technique in enumerate(techniques)}


def highlighted_text(
    meme_text: str, spans: Sequence[Span], colours: dict[str, str] | None = None
) -> tuple[Text, dict[str, str]]:
    """The text with each span's background set to its technique's colour.

    Characters inside spans of two or more techniques are also underlined and bold (the last
    colour drawn shows). `colours` (technique -> colour, see `technique_colours`) keeps colours
    the same across memes; techniques it lacks get the next free colour.
    """
    text = Text(meme_text)
    colours = dict(colours or {})
    depth = [0] * len(meme_text)
    for span in sorted(spans):
        colour = colours.setdefault(span.technique, PALETTE[len(colours) % len(PALETTE)])
        text.stylize(f"on {colour}", span.start, span.end)
        for position in range(span.start, min(span.end, len(meme_text))):
            depth[position] += 1
    for position, count in enumerate(depth):
        if count > 1:
            text.stylize("bold underline", position, position + 1)
    return text, colours


def print_highlighted(
    meme_text: str,
    spans: Sequence[Span],
    console: Console | None = None,
    title: str = "",
    colours: dict[str, str] | None = None,
) -> None:
    """Prints the text with spans highlighted, a legend, and the spans with their fragments."""
    console = console or Console()
    text, colours = highlighted_text(meme_text, spans, colours)
    if title:
        console.rule(title)
    console.print(text)
    if not spans:
        console.print("[dim](no spans)[/dim]")
        return
    legend = Table(show_header=True, header_style="bold", box=None)
    legend.add_column("technique")
    legend.add_column("span")
    legend.add_column("fragment")
    for span in sorted(spans, key=lambda s: (s.start, s.end, s.technique)):
        colour = colours[span.technique]
        legend.add_row(
            Text(span.technique, style=f"on {colour}"),
            f"{span.start}:{span.end}",
            repr(span.fragment(meme_text)),
        )
    console.print(legend)
