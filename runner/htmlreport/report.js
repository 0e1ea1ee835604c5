"use strict";
// The failed-only filter, and a link to a step (a bar in a timeline) that
// opens that step's evidence.
(function () {
  var filter = document.getElementById("failed-only");
  function applyFilter() {
    document.body.classList.toggle("failed-only", filter.checked);
  }
  filter.addEventListener("change", applyFilter);
  applyFilter();
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") {
      el.open = true;
      el.scrollIntoView({block: "center"});
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
