// Autocomplete for the song box: asks /api/search as the listener types and fills the <datalist>.
// Also: a pasted query is never cut silently. The box's maxlength (the server's limit) would cut a
// 300-character paste to 200 without a word; with script on, the attribute is lifted and the help
// line says how far over the limit the text is (the server refuses it with the same limit).
(function () {
  "use strict";
  var input = document.getElementById("song");
  var list = document.getElementById("song-suggestions");
  if (!input || !list) { return; }
  var help = document.getElementById("song-help");
  var limit = help ? parseInt(help.dataset.limit, 10) : 0;
  var helpText = help ? help.textContent : "";
  var timer = null;
  var last = "";
  function checkLength() {
    if (!help || !limit) { return; }
    var n = input.value.length;
    if (n > limit) {
      help.textContent = "This is " + n + " characters; searches are limited to " + limit + ". Please shorten it.";
      help.classList.add("over-limit");
      input.setAttribute("aria-invalid", "true");
    } else {
      help.textContent = helpText;
      help.classList.remove("over-limit");
      input.removeAttribute("aria-invalid");
    }
  }
  if (limit) { input.removeAttribute("maxlength"); checkLength(); }
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
    if (q.length < 2 || q === last || (limit && q.length > limit)) { return; }
    last = q;
    fetch("/api/search?q=" + encodeURIComponent(q), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) { if (input.value.trim() === q) { fill(data.results || []); } })
      .catch(function () { /* autocomplete is a convenience: stay quiet */ });
  }
  input.addEventListener("input", function () {
    checkLength();
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
})();
