// Copy buttons: <button type="button" data-copy="TEXT">Copy</button> puts TEXT on the
// clipboard, says "Copied" in the page's live region (#copy-status) and on the button for
// a moment. Buttons are native, so Enter and Space work; no inline script is needed. The
// buttons stay hidden (components.css) until this script runs, since without it they
// could not copy.
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("copy-status");
    if (!region) {
      return;
    }
    region.textContent = "";
    // A change after a short pause is announced again, even with the same words.
    window.setTimeout(function () { region.textContent = text; }, 60);
  }

  function copyBySelection(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(area);
    return copied;
  }

  function finish(button, copied) {
    if (!button.dataset.label) {
      button.dataset.label = button.textContent;
      button.dataset.name = button.getAttribute("aria-label") || "";
    }
    var said = copied ? "Copied" : "Select and copy";
    // The accessible name follows the visible text while it shows (it must contain it).
    button.textContent = said;
    if (button.dataset.name) {
      button.setAttribute("aria-label", said);
    }
    announce(copied ? "Copied" : "Could not copy; select the text and copy it");
    window.clearTimeout(Number(button.dataset.timer || 0));
    button.dataset.timer = String(window.setTimeout(function () {
      button.textContent = button.dataset.label;
      if (button.dataset.name) {
        button.setAttribute("aria-label", button.dataset.name);
      }
    }, 2000));
  }

  // Copy buttons do nothing without this script: they are shown once it runs.
  document.documentElement.classList.add("can-copy");

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("button[data-copy]") : null;
    if (!button) {
      return;
    }
    var text = button.getAttribute("data-copy") || "";
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { finish(button, true); },
        function () { finish(button, copyBySelection(text)); }
      );
    } else {
      finish(button, copyBySelection(text));
    }
  });
}());
