// The perfdata graphs of the subject detail page: one uPlot per metric label, from the
// API's perfdata answer (GET .../perfdata?from=&to=, read with the console's session).
//
// - The API decides the resolution (raw points up to 6 h, else the rollup tier of 5-minute,
//   hourly or daily averages that fits the range, merged into windows of `step`); the page
//   says which one it shows, in .resolution (data-resolution="raw" or "rollup", data-tier).
// - Gaps are drawn as gaps, never interpolated: a null is put between two points further
//   apart than 2.5 times the median interval (raw), or than 1.5 times the larger of the
//   step and the median interval (rollups: at least one window missing, whatever the
//   check interval).
// - warn/crit are dashed horizontal lines at the threshold's number, or its upper bound
//   ("10:20" is drawn at 20; "10:" has none).
// - Presets (4 h, 1 day, 7 days, 31 days), a custom range in the browser's zone, and drag
//   to zoom (the selected span is fetched again, at the resolution it deserves). The range
//   is kept in the URL, so a reload shows the same graphs.
// Each figure says what it drew: data-points (non-null points) and data-gaps.
(function () {
  "use strict";

  const section = document.getElementById("graphs");
  if (!section || typeof uPlot === "undefined") return;

  const HOUR = 3600e6; // microseconds
  const RANGES = { "4h": 4 * HOUR, "1d": 24 * HOUR, "7d": 7 * 24 * HOUR, "31d": 31 * 24 * HOUR };
  const HEIGHT = 220;
  const REFRESH_EVERY = 10000; // ms: at most this often a live change refetches a preset
  const COLOURS = { value: "#0b57b0", band: "rgba(11, 87, 176, 0.35)", warn: "#a05a00", crit: "#b00020" };

  const plots = section.querySelector(".plots");
  const resolution = section.querySelector(".resolution");
  const failure = section.querySelector(".graph-error");
  const custom = section.querySelector("form.custom");
  const thresholds = JSON.parse(section.dataset.thresholds || "{}");
  const number = function (text) { return text ? Number(text) : null; };
  let view = {
    preset: section.dataset.preset || null,
    from: number(section.dataset.from),
    to: number(section.dataset.to),
  };
  let charts = [];
  let asked = 0; // the latest request; an older answer arriving late is dropped
  let loadedAt = 0;

  function bounds() {
    if (view.preset) {
      const to = Date.now() * 1000;
      return [to - RANGES[view.preset], to];
    }
    return [view.from, view.to];
  }

  // ---- what the page says ----------------------------------------------------------
  function minutes(us) {
    const m = Math.round(us / 60e6);
    if (m >= 1440 && m % 1440 === 0) return m / 1440 + (m === 1440 ? " day" : " days");
    return m < 60 || m % 60 ? m + " min" : m / 60 + " h";
  }

  // The rollup tier the API read (its answer's `tier`), as the page names it.
  const TIERS = { "5m": "5-minute averages", "1h": "hourly averages", "1d": "daily averages" };

  const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function describe(answer) {
    const span = stamp.format(new Date(answer.from / 1000)) + " – " + stamp.format(new Date(answer.to / 1000));
    if (answer.resolution === "raw") return "Resolution: raw points (every result), " + span + ".";
    const tier = TIERS[answer.tier] || "averages";
    return "Resolution: " + tier + " (rollup, step " + minutes(answer.step) + "), " + span + ".";
  }

  function localInput(us) {
    const d = new Date(us / 1000);
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function showRange() {
    section.querySelectorAll("[data-range]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.dataset.range === view.preset ? "true" : "false");
    });
    const [from, to] = bounds();
    custom.elements.from.value = localInput(from);
    custom.elements.to.value = localInput(to);
  }

  function remember() {
    const url = new URL(location.href);
    ["range", "from", "to"].forEach(function (k) { url.searchParams.delete(k); });
    if (view.preset && view.preset !== "4h") url.searchParams.set("range", view.preset);
    if (!view.preset) {
      url.searchParams.set("from", new Date(view.from / 1000).toISOString());
      url.searchParams.set("to", new Date(view.to / 1000).toISOString());
    }
    history.replaceState(history.state, "", url);
  }

  // ---- the data as uPlot draws it ---------------------------------------------------
  function median(values) {
    const sorted = values.slice().sort(function (a, b) { return a - b; });
    return sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  }

  function gapLimit(times, step) {
    const intervals = [];
    for (let i = 1; i < times.length; i++) intervals.push(times[i] - times[i - 1]);
    if (!intervals.length) return Infinity;
    const typical = median(intervals);
    return step ? 1.5 * Math.max(step, typical) : 2.5 * typical;
  }

  // "80" -> 80, "10:20" -> 20, "~:20" -> 20, "@10:20" -> 20, "10:" -> none.
  function level(text) {
    if (text === null || text === undefined || text === "") return null;
    const range = String(text).replace(/^@/, "");
    const end = range.includes(":") ? range.slice(range.indexOf(":") + 1) : range;
    if (end === "") return null;
    const value = Number(end);
    return Number.isFinite(value) ? value : null;
  }

  function columnsOf(series, rollup) {
    const at = function (name) { return series.columns.indexOf(name); };
    const times = series.points.map(function (p) { return p[0]; });
    const limit = gapLimit(times, rollup ? series.step : null);
    const value = at(rollup ? "avg" : "value");
    const wanted = rollup ? [value, at("min"), at("max")] : [value];
    const xs = [];
    const ys = wanted.map(function () { return []; });
    let gaps = 0;
    series.points.forEach(function (point, i) {
      if (i > 0 && point[0] - series.points[i - 1][0] > limit) {
        xs.push((series.points[i - 1][0] + point[0]) / 2e6);
        ys.forEach(function (column) { column.push(null); });
        gaps += 1;
      }
      xs.push(point[0] / 1e6);
      wanted.forEach(function (index, c) { ys[c].push(point[index]); });
    });
    const points = ys[0].filter(function (v) { return v !== null; }).length;
    // The range's edges, without values: the threshold lines then span the whole graph.
    if (!xs.length || xs[0] > series.from / 1e6) {
      xs.unshift(series.from / 1e6);
      ys.forEach(function (column) { column.unshift(null); });
    }
    if (xs[xs.length - 1] < series.to / 1e6) {
      xs.push(series.to / 1e6);
      ys.forEach(function (column) { column.push(null); });
    }
    return { xs: xs, ys: ys, gaps: gaps, points: points };
  }

  // ---- drawing ------------------------------------------------------------------------
  function formatter(unit) {
    return function (u, v) {
      if (v === null || v === undefined) return "–";
      return (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(4))) + (unit ? " " + unit : "");
    };
  }

  function plot(series, answer) {
    const rollup = answer.resolution === "rollup";
    const columns = columnsOf({ ...series, step: answer.step, from: answer.from, to: answer.to }, rollup);
    const given = thresholds[series.label] || {};
    const warn = series.warn !== undefined ? level(series.warn) : given.warn;
    const crit = series.crit !== undefined ? level(series.crit) : given.crit;
    const unit = series.unit || "";
    const value = formatter(unit);

    const figure = document.createElement("figure");
    figure.className = "graph";
    figure.dataset.label = series.label;
    figure.dataset.points = columns.points;
    figure.dataset.gaps = columns.gaps;
    figure.dataset.resolution = answer.resolution;
    const caption = document.createElement("figcaption");
    const noun = (rollup ? " window" : " point") + (columns.points === 1 ? "" : "s");
    const holes = columns.gaps === 1 ? "1 gap" : columns.gaps + " gaps";
    caption.textContent = series.label + (unit ? " (" + unit + ")" : "") + ": " + columns.points +
      noun + (columns.gaps ? ", " + holes + " without results" : "");
    const canvas = document.createElement("div");
    canvas.className = "plot";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Graph of " + series.label + ". " + caption.textContent);
    figure.append(caption, canvas);
    plots.append(figure);

    const data = [columns.xs, columns.ys[0]];
    const lines = [{}, { label: rollup ? series.label + " (avg)" : series.label, stroke: COLOURS.value, width: 2, spanGaps: false, value: value }];
    if (rollup) {
      data.push(columns.ys[1], columns.ys[2]);
      lines.push({ label: "min", stroke: COLOURS.band, width: 1, spanGaps: false, value: value, points: { show: false } });
      lines.push({ label: "max", stroke: COLOURS.band, width: 1, spanGaps: false, value: value, points: { show: false } });
    }
    [["warn", warn], ["crit", crit]].forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined) return;
      data.push(columns.xs.map(function () { return pair[1]; }));
      lines.push({ label: pair[0], stroke: COLOURS[pair[0]], width: 1.5, dash: [6, 4], value: value, points: { show: false } });
    });
    const chart = new uPlot({
      width: Math.max(300, plots.clientWidth),
      height: HEIGHT,
      scales: { x: { time: true, range: [answer.from / 1e6, answer.to / 1e6] } },
      series: lines,
      axes: [{}, { values: function (u, ticks) { return ticks.map(function (t) { return value(u, t); }); }, size: 70 }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, "x") * 1e6;
          const to = u.posToVal(u.select.left + u.select.width, "x") * 1e6;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          zoom(from, to);
        }],
      },
    }, data, canvas);
    charts.push(chart);
  }

  function draw(answer) {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    plots.replaceChildren();
    section.dataset.shownFrom = answer.from;
    section.dataset.shownTo = answer.to;
    resolution.dataset.resolution = answer.resolution;
    resolution.dataset.step = answer.step || "";
    resolution.dataset.tier = answer.tier || "";
    resolution.textContent = describe(answer);
    if (!answer.series.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No perfdata in this range.";
      plots.append(empty);
    }
    answer.series.forEach(function (series) { plot(series, answer); });
  }

  async function load() {
    const [from, to] = bounds();
    const mine = ++asked;
    loadedAt = Date.now();
    section.setAttribute("aria-busy", "true");
    try {
      const url = section.dataset.perfdataUrl + "?from=" + Math.floor(from) + "&to=" + Math.ceil(to);
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const answer = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        throw new Error(answer.error ? answer.error.message : "the node answered " + response.status);
      }
      if (mine !== asked) return;
      failure.hidden = true;
      draw(answer);
    } catch (error) {
      if (mine !== asked) return;
      failure.textContent = "The graphs could not be read: " + error.message;
      failure.hidden = false;
      resolution.dataset.resolution = "";
      resolution.dataset.tier = "";
      resolution.textContent = "No graph.";
    } finally {
      if (mine === asked) section.removeAttribute("aria-busy");
    }
  }

  function choose(next) {
    view = next;
    showRange();
    remember();
    load();
  }

  function zoom(from, to) {
    if (to - from < 60e6) to = from + 60e6; // less than a minute is not a range to read
    choose({ preset: null, from: Math.floor(from), to: Math.ceil(to) });
  }

  // ---- wiring -------------------------------------------------------------------------
  section.addEventListener("click", function (e) {
    const button = e.target.closest("[data-range]");
    if (button) choose({ preset: button.dataset.range, from: null, to: null });
  });

  custom.addEventListener("submit", function (e) {
    e.preventDefault();
    const from = new Date(custom.elements.from.value).getTime() * 1000;
    const to = new Date(custom.elements.to.value).getTime() * 1000;
    if (!(from < to)) {
      failure.textContent = "The range's start must be before its end.";
      failure.hidden = false;
      return;
    }
    choose({ preset: null, from: from, to: to });
  });

  // New results arrive with the change stream (console.js refreshes #current): a preset
  // range, which ends now, is read again, not more often than REFRESH_EVERY.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (view.preset && e.target.id === "current" && Date.now() - loadedAt > REFRESH_EVERY) load();
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.setSize({ width: Math.max(300, plots.clientWidth), height: HEIGHT }); });
  });

  showRange();
  load();
})();
