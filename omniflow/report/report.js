// omniflow report: filter the variant rows by matrix value. No network, no libraries.
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
  apply();
})();
