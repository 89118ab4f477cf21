"""The dashboard's page: its figures, and what it does with each update the consumer
thread hands it. Bokeh plotting, not the streaming lesson (that is dashboard.py).

Page      one browser tab: a Bokeh document with four panels and their data sources;
          apply(update) streams the new points into the sources (only they go to the
          browser) and patches a window whose count changed
"""

import collections
import time

from bokeh.layouts import column, row
from bokeh.models import BoxAnnotation, ColumnDataSource, DataRange1d, Div, HoverTool, Label, Span
from bokeh.palettes import Category10_10 as COLORS
from bokeh.plotting import figure
from formats import MODEL_COLUMNS

from course import hms

RATE_POINTS, WINDOWS, MODEL_POINTS = 300, 120, 500  # rollover: what each panel keeps


def _figure(title, follow=None, **options):
    """A figure for the projector. follow=S: its time axis shows the newest S seconds, and follows them."""
    if follow:
        options["x_range"] = DataRange1d(follow="end", follow_interval=follow * 1000, range_padding=2000,
                                         range_padding_units="absolute")
    fig = figure(title=title, height=300, sizing_mode="stretch_width", toolbar_location=None,
                 x_axis_type="datetime", **options)
    fig.title.text_font_size = "15px"
    return fig


def _waiting(fig, text, name):
    fig.add_layout(label := Label(x=10, y=10, x_units="screen", y_units="screen", text=text, name=name,
                                  text_font_size="14px", text_color="#b00", background_fill_color="white"))
    return label


class Page:
    """One browser tab. topics: role -> topic name; hints: role -> what to start."""

    def __init__(self, doc, topics, hints):
        self.doc, self.topics, self.hints = doc, topics, hints
        self.inputs = [topics[role] for role in ("messages", "trendy", "tweets")]
        self.seen, self.malformed = collections.Counter(), collections.Counter()
        self.window_row, self.windows_streamed, self.dropped_rows = {}, 0, 0

        # 1. messages per second on the input topics: the stream's heartbeat
        self.rate = ColumnDataSource({"time": [], **{t: [] for t in self.inputs}}, name="rate")
        rate = _figure("Messages per second, per input topic")
        for topic, color in zip(self.inputs, COLORS, strict=False):
            rate.line("time", topic, source=self.rate, color=color, line_width=2, legend_label=topic)
        rate.legend.location = "top_left"
        self.rate_waiting = _waiting(rate, "", "rate-waiting")

        # 2. event-time windows: a bar per window, the watermark, late rows dropped
        self.windows = ColumnDataSource({k: [] for k in ("start", "end", "middle", "width", "count",
                                                         "label")}, name="windows")
        self.dropped = ColumnDataSource({"x": [], "y": [], "text": []}, name="dropped")
        windows = _figure(f"Event-time windows ({topics['windows']}): messages per window", follow=120,
                          y_range=DataRange1d(start=0, range_padding=0.3))  # room for the watermark
        bars = windows.vbar("middle", top="count", width="width", source=self.windows, color=COLORS[0])
        windows.add_tools(HoverTool(renderers=[bars], tooltips=[("window", "@label"), ("count", "@count")]))
        self.closed = BoxAnnotation(right=0, fill_color="gray", fill_alpha=0.15)
        self.watermark = Span(location=0, dimension="height", line_color="#b00", line_dash="dashed",
                              line_width=2, visible=False)
        for annotation in (self.closed, self.watermark):
            windows.add_layout(annotation)
        windows.scatter("x", "y", source=self.dropped, marker="x", size=16, color="#b00", line_width=3)
        self.watermark_label = Label(x=10, y=195, x_units="screen", y_units="screen", text="",
                                     name="watermark", text_font_size="13px", text_color="#b00",
                                     background_fill_color="white", background_fill_alpha=0.8)
        windows.add_layout(self.watermark_label)
        self.windows_waiting = _waiting(windows, f"waiting for {topics['windows']}: {hints['windows']}",
                                        "windows-waiting")

        # 3. the trendy_prices model: true against learned weights, and both errors
        self.model = ColumnDataSource({column: [] for column in MODEL_COLUMNS}, name="model")
        weights = _figure(f"Weights ({topics['model']}): true (solid) and learned (dashed)", follow=300)
        for i in range(5):  # the model's five weights
            weights.line("time", f"true{i}", source=self.model, color=COLORS[i], line_width=2)
            weights.line("time", f"learned{i}", source=self.model, color=COLORS[i], line_width=2,
                         line_dash="dashed")
        errors = _figure("Prediction error (RMSE): learning model and frozen model", x_range=weights.x_range)
        errors.line("time", "rmse", source=self.model, color=COLORS[0], line_width=2,
                    legend_label="learning on the stream")
        errors.line("time", "frozen_rmse", source=self.model, color=COLORS[3], line_width=2,
                    legend_label="frozen after its first batch")
        errors.legend.location = "top_left"
        hint = f"waiting for {topics['model']}: {hints['model']}"
        self.model_waiting = [_waiting(weights, hint, "weights-waiting"),
                              _waiting(errors, hint, "errors-waiting")]

        self.status = Div(text="", name="status")
        self.malformed_div = Div(text="malformed messages: 0", name="malformed",
                                 styles={"font-size": "13px", "color": "#555"})
        header = Div(text="<h2 style='margin:0'>The course's streams, live</h2>")
        wide = {"sizing_mode": "stretch_width"}
        doc.add_root(column(row(header, self.status, self.malformed_div), row(rate, windows, **wide),
                            row(weights, errors, **wide), **wide))
        doc.title = "Streaming ML: live dashboard"
        self.show_waiting()

    def show_waiting(self):
        missing = [t for t in self.inputs if not self.seen[t]]
        roles = dict(zip(self.inputs, ("messages", "trendy", "tweets"), strict=True))
        self.rate_waiting.text = "\n".join(f"waiting for {t}: {self.hints[roles[t]]}" for t in missing)
        self.rate_waiting.visible = bool(missing)
        self.windows_waiting.visible = self.windows_streamed == 0
        for label in self.model_waiting:
            label.visible = len(self.model.data["time"]) == 0

    def apply(self, update):
        """Runs on the server's thread (add_next_tick_callback): change the document."""
        self.rate.stream(update.rate, rollover=RATE_POINTS)  # one new point per topic
        self.seen.update({t: update.rate[t][0] for t in self.inputs})
        for w in update.windows:
            self.window(w)
        for w in update.watermarks:
            if w["watermark"]:
                self.closed.right = self.watermark.location = w["watermark"]
                self.watermark.visible = True
            if w["dropped"]:  # a mark where the watermark stood when the job dropped them
                self.dropped_rows += w["dropped"]
                self.dropped.stream({"x": [w["watermark"] or 0], "y": [0], "text": [str(w["dropped"])]})
            self.watermark_label.text = (f"watermark {hms(w['watermark'])} (gray: windows it closed)"
                                         if w["watermark"] else "no watermark yet")
            self.watermark_label.text += f" · late rows dropped: {self.dropped_rows} (x)"
        if update.model["time"]:
            self.model.stream(update.model, rollover=MODEL_POINTS)
        if update.malformed:
            self.malformed.update(update.malformed)
            per_topic = ", ".join(f"{t}: {n}" for t, n in sorted(self.malformed.items()))
            self.malformed_div.text = (f"<b style='color:#b00'>malformed messages: "
                                       f"{self.malformed.total()}</b> ({per_topic})")
        self.status.text = f"updated {time.strftime('%H:%M:%S')}"
        self.show_waiting()

    def window(self, w):
        """A window's newest count: patch its bar if the page has it, else a new bar."""
        first_kept = max(0, self.windows_streamed - WINDOWS)  # rollover dropped the rows before
        at = self.window_row.get(w["start"], -1)
        if at >= first_kept:
            self.windows.patch({"count": [(at - first_kept, w["count"])]})
            return
        self.window_row[w["start"]] = self.windows_streamed
        self.windows_streamed += 1
        span = w["end"] - w["start"]
        self.windows.stream({"start": [w["start"]], "end": [w["end"]], "middle": [w["start"] + span / 2],
                             "width": [span * 0.45], "count": [w["count"]],
                             "label": [f"{hms(w['start'])}-{hms(w['end'])}"]}, rollover=WINDOWS)
