/* Clientside callbacks of the dashboard (see dashboard/pages/wall.py for the why). */
(function () {
  "use strict";
  var STUCK_MS = 10000; // a request unanswered this long is given up, so polling resumes
  var BASE_W = 1920, BASE_H = 1080; // the wall is laid out for 1080p and scaled up from there

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

  function baseClass(rootClass) {
    return (rootClass || "wall").split(" ").filter(function (c) { return c !== "stale"; }).join(" ");
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gmv: {
      /* A tick becomes a request only when the previous one has been answered. */
      wallTick: function (n, request, shown) {
        request = request || {seq: 0, t: 0};
        var answered = (shown && shown.answered) || 0;
        var now = Date.now();
        if (request.seq > answered && now - request.t < STUCK_MS) {
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
        if (!payload.ok && shown.as_of_ms >= 0) {
          // Down: keep the last numbers, grey them, say since when.
          var msg = "No answer from ClickHouse: the numbers below are stale, " +
            (shown.asof_text || "") + ". " + (payload.error || "");
          return [next, base + " stale", msg, "banner banner-error"].concat(noUpdates(n - 4));
        }
        if (!payload.has_data) {
          var text = payload.ok ? payload.message : "No answer from ClickHouse. " + (payload.error || "");
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
