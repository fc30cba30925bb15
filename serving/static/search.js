// Autocomplete for the song box: asks /api/search as the listener types and fills the <datalist>.
(function () {
  "use strict";
  var input = document.getElementById("song");
  var list = document.getElementById("song-suggestions");
  if (!input || !list) { return; }
  var timer = null;
  var last = "";
  function fill(items) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.title + " by " + item.artist;  // textContent-safe: value is an attribute
      list.appendChild(option);
    });
  }
  function ask() {
    var q = input.value.trim();
    if (q.length < 2 || q === last) { return; }
    last = q;
    fetch("/api/search?q=" + encodeURIComponent(q), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) { if (input.value.trim() === q) { fill(data.results || []); } })
      .catch(function () { /* autocomplete is a convenience: stay quiet */ });
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
})();
