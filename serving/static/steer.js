// The steer page's niceties (it works without them): moving a slider ticks its box and shows its
// value; unticked sliders are left out of the submitted link, so shared links stay short.
(function () {
  "use strict";
  var form = document.getElementById("steer-form");
  if (!form) { return; }
  form.querySelectorAll("input[type=range][data-use]").forEach(function (range) {
    var use = document.getElementById(range.dataset.use);
    var shown = document.getElementById(range.id.replace("target_", "value_"));
    range.addEventListener("input", function () {
      if (use) { use.checked = true; use.closest(".slider").classList.add("in-use"); }
      if (shown) { shown.textContent = range.value; }
    });
    if (use) {
      use.addEventListener("change", function () { use.closest(".slider").classList.toggle("in-use", use.checked); });
    }
  });
  form.addEventListener("submit", function () {
    form.querySelectorAll("input[type=range][data-use]").forEach(function (range) {
      var use = document.getElementById(range.dataset.use);
      range.disabled = !(use && use.checked);  // a disabled control is not submitted
    });
  });
})();
