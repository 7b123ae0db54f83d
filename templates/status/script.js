// Search and status filter for the table; opens a place's details when its tile or link
// is followed. Reads only the page itself; the page works without it.
(function () {
  "use strict";
  var q = document.getElementById("q");
  var status = document.getElementById("status-filter");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#places tbody tr"));

  function apply() {
    var text = q.value.trim().toLowerCase();
    var wanted = status.value;
    var count = 0;
    rows.forEach(function (row) {
      var ok = (!text || row.getAttribute("data-search").indexOf(text) !== -1) &&
        (!wanted || row.getAttribute("data-status") === wanted);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }

  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.tagName === "DETAILS") {
      target.open = true;
      target.scrollIntoView();
    }
  }

  q.addEventListener("input", apply);
  status.addEventListener("change", apply);
  window.addEventListener("hashchange", openTarget);
  apply();
  openTarget();
}());
