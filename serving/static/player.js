// One shared <audio> element, so only one preview plays at a time; Stop ends it.
(function () {
  "use strict";
  var audio = document.getElementById("player");
  var stop = document.getElementById("stop");
  var status = document.getElementById("now-playing");
  if (!audio) { return; }
  var current = null;

  function reset() {
    if (current) {
      current.textContent = "▶ Play";
      current.setAttribute("aria-pressed", "false");
      current.classList.remove("playing");
    }
    current = null;
    stop.disabled = true;
    status.textContent = "";
  }

  function halt() {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
    reset();
  }

  document.querySelectorAll("button.play").forEach(function (button) {
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      if (current === button) { halt(); return; }  // pressing the playing song stops it
      halt();
      current = button;
      audio.src = button.dataset.src;
      audio.loop = true;
      button.textContent = "❚❚ Playing";
      button.setAttribute("aria-pressed", "true");
      button.classList.add("playing");
      stop.disabled = false;
      status.textContent = "Now playing: " + button.dataset.label;
      var played = audio.play();
      if (played && played.catch) {
        played.catch(function () {
          status.textContent = "This preview cannot be played.";
          reset();
        });
      }
    });
  });
  stop.addEventListener("click", halt);
  audio.addEventListener("error", function () {
    if (current) { status.textContent = "This preview cannot be played."; reset(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && current) { halt(); }
  });
})();
