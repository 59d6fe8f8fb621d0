// omniflow report: filter the variant rows by matrix value. No network, no libraries.
// (Under `omniflow review`, the second part below talks to its own server only.)
"use strict";
(function () {
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-dim]"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.variant"));
  var shown = document.getElementById("shown");
  var values = rows.map(function (r) { return JSON.parse(r.getAttribute("data-values") || "{}"); });

  function apply() {
    var want = {};
    selects.forEach(function (s) { if (s.value !== "") { want[s.getAttribute("data-dim")] = s.value; } });
    var visible = 0;
    rows.forEach(function (row, i) {
      var ok = Object.keys(want).every(function (k) { return String(values[i][k]) === want[k]; });
      row.hidden = !ok;
      if (ok) { visible += 1; }
    });
    if (shown) { shown.textContent = visible + " of " + rows.length + " variants"; }
  }

  selects.forEach(function (s) { s.addEventListener("change", apply); });
  var form = document.getElementById("filters");
  if (form) { form.addEventListener("submit", function (e) { e.preventDefault(); }); }
  apply();
})();

// omniflow review: the Pick buttons. Present only on a page served by `omniflow review`,
// which embeds its session token; a click asks the server to write the pick and then
// moves the mark here, without reloading the page.
(function () {
  var meta = document.querySelector('meta[name="omniflow-review"]');
  if (!meta) { return; }
  var token = meta.getAttribute("content");

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function say(cell, text, error) {
    var msg = cell.querySelector(".pick-msg");
    msg.textContent = text;
    msg.className = error ? "pick-msg error" : "pick-msg";
  }

  function busy(cell, on) {
    // the picked take's button stays disabled: picking it again would change nothing
    each(cell.querySelectorAll("button.pick"), function (b) { b.disabled = on || b.hasAttribute("data-fixed"); });
  }

  function mark(cell, answer) {
    each(cell.querySelectorAll("figure.take"), function (f) {
      var picked = parseInt(f.getAttribute("data-take"), 10) === answer.take;
      f.classList.toggle("picked", picked);
      f.querySelector(".mark").textContent = "picked";
      var b = f.querySelector("button.pick");
      if (picked) { b.setAttribute("data-fixed", ""); } else { b.removeAttribute("data-fixed"); }
      if (picked) {
        var key = f.getAttribute("data-key");
        cell.setAttribute("data-key", key);
        var shown = cell.querySelector(".chosen-key");
        if (shown) { shown.textContent = key.slice(0, 12) + " (take " + answer.take + ")"; shown.title = key; }
      }
    });
    cell.querySelector(".pick-state").textContent = "take " + answer.take + " picked";
    var row = cell.closest("tr");
    var again = [];
    (answer.downstream || []).forEach(function (d) {
      var td = row.querySelector('td[data-step="' + CSS.escape(d.step) + '"]');
      if (!td) { return; }
      var note = td.querySelector(".stale-note");
      if (d.state === "cached") {
        td.classList.remove("stale");
        if (note) { note.remove(); }
        return;
      }
      again.push(d.step);
      td.classList.add("stale");
      if (!note) {
        note = document.createElement("p");
        note.className = "stale-note";
        td.insertBefore(note, td.firstChild);
      }
      note.textContent = d.state + ": " + cell.getAttribute("data-step") + " pick changed";
    });
    if (answer.previous === answer.take) {
      say(cell, "take " + answer.take + " was already picked", false);
    } else {
      say(cell, "picked take " + answer.take + (again.length ? "; to run: " + again.join(", ") : ""), false);
    }
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button.pick") : null;
    if (!button) { return; }
    var cell = button.closest("td.takes");
    var take = parseInt(button.getAttribute("data-take"), 10);
    busy(cell, true);
    say(cell, "picking take " + take + "…", false);
    fetch("/pick", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({step: cell.getAttribute("data-step"), variant: cell.getAttribute("data-variant"),
                            take: take, token: token})
    }).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; },
                           function () { return {ok: false, body: {error: "HTTP " + r.status}}; });
    }).then(function (res) {
      if (!res.ok) { throw new Error(res.body.error || "refused"); }
      mark(cell, res.body);
    }).catch(function (e) {
      say(cell, "not picked: " + e.message, true);
    }).then(function () { busy(cell, false); });
  });
})();
