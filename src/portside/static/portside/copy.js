// Copy buttons: <button type="button" data-copy="TEXT">Copy</button> puts TEXT on the
// clipboard, says "Copied" in the page's live region (#copy-status) and on the button for
// a moment. Buttons are native, so Enter and Space work; no inline script is needed.
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
    }
    button.textContent = copied ? "Copied" : "Select and copy";
    announce(copied ? "Copied" : "Could not copy; select the text and copy it");
    window.clearTimeout(Number(button.dataset.timer || 0));
    button.dataset.timer = String(window.setTimeout(function () {
      button.textContent = button.dataset.label;
    }, 2000));
  }

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
