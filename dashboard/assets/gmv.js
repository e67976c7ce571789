/* Clientside callbacks of the dashboard (see dashboard/pages/wall.py for the why). */
(function () {
  "use strict";
  var STUCK_MS = 10000; // a wall poll unanswered this long is aborted (see serverLost), so polling resumes
  var LOST_MS = 2 * STUCK_MS; // a poll neither answered nor failed by then (Dash lost it) is given up
  var BASE_W = 1920, BASE_H = 1080; // the wall is laid out for 1080p and scaled up from there
  var lastMap = null; // the map layers last drawn (and the scale), so an unchanged map is not redrawn

  function noUpdates(n) {
    var out = [];
    for (var i = 0; i < n; i++) out.push(window.dash_clientside.no_update);
    return out;
  }

  function scale() {
    var s = Math.min(window.innerWidth / BASE_W, window.innerHeight / BASE_H);
    return Math.max(1, Math.min(s, 3));
  }

  // Plotly sizes text in CSS pixels; on a 4K wall everything is scaled like the CSS is.
  function scaled(fig, k) {
    if (!fig || !fig.layout || k === 1) return fig;
    var layout = Object.assign({}, fig.layout);
    if (layout.font) layout.font = Object.assign({}, layout.font, {size: (layout.font.size || 14) * k});
    if (layout.annotations) {
      layout.annotations = layout.annotations.map(function (a) {
        var f = a.font || {};
        return Object.assign({}, a, {font: Object.assign({}, f, {size: (f.size || 14) * k})});
      });
    }
    return Object.assign({}, fig, {layout: layout});
  }

  /* The map (see china_map.base_figure and layers): the outlines sent once with the page, filled
     with each answer's colours, under its lines and value markers. */
  function mapFigure(base, layer) {
    var fills = layer.fills || {};
    var data = base.data.map(function (t) {
      return fills[t.name] ? Object.assign({}, t, {fillcolor: fills[t.name]}) : t;
    });
    return {data: data.concat(layer.traces || []), layout: base.layout};
  }

  function baseClass(rootClass) {
    return (rootClass || "wall").split(" ").filter(function (c) { return c !== "stale"; }).join(" ");
  }

  /* A wall poll the dashboard server does not answer (it is restarting or hangs, or a proxy
     in front of it says 502) must not leave the screen showing its last numbers as if live,
     and Dash tells no callback that a request failed, nor gives up on one that hangs (and
     runs no further tick while it hangs). So the wall's polls are watched here: one without
     an answer for STUCK_MS is aborted, and one that failed is answered on the page itself
     with a payload saying the server is lost. The wall greys its numbers and polls again on
     the next tick; the first poll the server answers makes it fresh again, with no reload. */
  function serverLost(seq, why) {
    window.dash_clientside.set_props("wall-payload", {data: {
      seq: seq, ok: false, has_data: false, server_lost: true,
      error: "The dashboard server " + why + "; trying again every second."}});
  }

  function wallPollSeq(url, init) {
    var body = init && init.body;
    if (String(url).indexOf("_dash-update-component") < 0 || typeof body !== "string" ||
        body.indexOf('"wall-payload.data"') < 0) return null;
    try {
      return JSON.parse(body).inputs[0].value.seq;
    } catch (e) {
      return null;
    }
  }

  var pageFetch = window.fetch;
  window.fetch = function (url, init) {
    var seq = wallPollSeq(url, init);
    if (seq === null) return pageFetch.apply(this, arguments);
    var abort = new AbortController();
    var timer = setTimeout(function () { abort.abort(); }, STUCK_MS);
    var response = pageFetch.call(this, url, Object.assign({}, init, {signal: abort.signal}));
    response.then(function (res) {
      clearTimeout(timer);
      if (!res.ok) serverLost(seq, "answered HTTP " + res.status);
    }, function () {
      clearTimeout(timer);
      serverLost(seq, abort.signal.aborted ? "did not answer for " + STUCK_MS / 1000 + " s" : "cannot be reached");
    });
    return response; // Dash handles this same response (or failure) as before
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gmv: {
      /* A tick becomes a request only when the previous one has been answered (or failed:
         then serverLost answers it). */
      wallTick: function (n, request, shown) {
        request = request || {seq: 0, t: 0};
        var answered = (shown && shown.answered) || 0;
        var now = Date.now();
        if (request.seq > answered && now - request.t < LOST_MS) {
          return window.dash_clientside.no_update;
        }
        return {seq: request.seq + 1, t: now};
      },

      /* Apply an answer unless it is older than what is shown; keep the numbers when the
         answer says ClickHouse is down. Outputs: shown, root class, banner text, banner class,
         GMV text, GMV title, GMV data-fen, freshness class, then ids.texts, then ids.figures. */
      wallApply: function (payload, units, shown, ids, rootClass) {
        var n = 8 + ids.texts.length + ids.figures.length;
        shown = shown || {seq: 0, as_of_ms: -1, answered: 0};
        if (!payload) return [shown].concat(noUpdates(n - 1));
        var trig = ((window.dash_clientside.callback_context || {}).triggered || []).map(function (t) {
          return t.prop_id;
        });
        var byUnits = trig.indexOf("wall-units.value") >= 0 && trig.indexOf("wall-payload.data") < 0;
        var seq = payload.seq || 0;
        var next = Object.assign({}, shown, {answered: Math.max(shown.answered || 0, seq)});
        var older = seq < (shown.seq || 0) || (payload.has_data && payload.as_of_ms < shown.as_of_ms);
        if (older && !byUnits) return [next].concat(noUpdates(n - 1));

        var base = baseClass(rootClass);
        var silent = "No answer from " + (payload.server_lost ? "the dashboard server" : "ClickHouse");
        if (!payload.ok && shown.as_of_ms >= 0) {
          // Down: keep the last numbers, grey them, say since when.
          var msg = silent + ": the numbers below are stale, " + (shown.asof_text || "") + ". " +
            (payload.error || "");
          return [next, base + " stale", msg, "banner banner-error"].concat(noUpdates(n - 4));
        }
        if (!payload.has_data) {
          var text = payload.ok ? payload.message : silent + ". " + (payload.error || "");
          return [next, base, text, payload.ok ? "banner banner-info" : "banner banner-error"]
            .concat(noUpdates(n - 4));
        }
        next = Object.assign(next, {seq: Math.max(seq, shown.seq || 0), as_of_ms: payload.as_of_ms,
                                    asof_text: payload.texts["wall-asof"]});
        var k = scale();
        var unit = units || "yuan";
        var out = [
          next,
          payload.ok ? base : base + " stale",
          payload.ok ? "" : "No answer from ClickHouse: these numbers are stale. " + (payload.error || ""),
          payload.ok ? "banner banner-hidden" : "banner banner-error",
          payload.gmv[unit] || payload.gmv.yuan,
          "festival GMV so far: " + payload.gmv.fen + " fen (" + payload.gmv.yuan + ")",
          String(payload.gmv.fen),
          "fresh fresh-" + payload.fresh,
        ];
        ids.texts.forEach(function (id) { out.push(payload.texts[id]); });
        ids.figures.forEach(function (id) { out.push(scaled(payload.figures[id], k)); });
        return out;
      },

      /* The milestones' banner and timeline (built on the server, see milestones_view in
         pages/wall.py), with wallApply's guard: an answer older than what is shown, or one
         saying ClickHouse or the server does not answer, changes nothing. */
      milestonesApply: function (payload, shown) {
        var skip = noUpdates(6);
        shown = shown || {seq: 0, as_of_ms: -1};
        if (!payload || !payload.ok || !payload.has_data || !payload.milestones) return skip;
        if ((payload.seq || 0) < (shown.seq || 0) || payload.as_of_ms < shown.as_of_ms) return skip;
        var m = payload.milestones;
        return [m.banner, m.banner_class, m.title, m.second, m.figure, m.timeline];
      },

      /* The map from each answer's layers, with wallApply's guard (as milestonesApply); an
         answer whose layers are those already drawn redraws nothing. */
      mapApply: function (payload, shown, base, current) {
        var nu = window.dash_clientside.no_update;
        shown = shown || {seq: 0, as_of_ms: -1};
        if (!payload || !payload.ok || !payload.has_data || !payload.map || !base) return nu;
        if ((payload.seq || 0) < (shown.seq || 0) || payload.as_of_ms < shown.as_of_ms) return nu;
        var drawn = JSON.stringify(payload.map) + "@" + scale();
        if (drawn === lastMap && current && current.data && current.data.length) return nu;
        lastMap = drawn;
        return scaled(mapFigure(base, payload.map), scale());
      },

      /* The unit is part of the URL, so a link (or a kiosk's start page) keeps it. */
      unitsToUrl: function (units, search) {
        var params = new URLSearchParams(search || "");
        if (!units || units === "yuan") params.delete("units"); else params.set("units", units);
        var text = params.toString();
        return text ? "?" + text : "";
      },
    },
  });
})();
