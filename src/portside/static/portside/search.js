// The header's search box: suggestions as you type, as an ARIA combobox with a listbox.
// Down and Up move through the suggestions, Enter opens the one chosen (or searches the
// words when none is), Escape closes the list, and clears the box when it is closed.
// Without this script the form still submits to /search.
(function () {
  "use strict";

  var form = document.querySelector("form.site-search[data-suggest]");
  var input = form ? form.querySelector("input[name=q]") : null;
  if (!form || !input || !window.fetch) {
    return;
  }
  var endpoint = form.getAttribute("data-suggest");
  var MIN_LENGTH = 2;
  var DELAY = 150; // milliseconds after the last keystroke before asking the store
  var cache = new Map(); // query -> suggestions, so retyping asks nothing
  var timer = 0;
  var pending = null;
  var options = [];
  var active = -1;

  var list = document.createElement("ul");
  list.id = "site-q-suggestions";
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Suggestions");
  list.hidden = true;
  form.appendChild(list);

  var status = document.createElement("div");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  form.appendChild(status);

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    options.forEach(function (option, n) {
      option.element.setAttribute("aria-selected", n === index ? "true" : "false");
    });
    active = index;
    if (index < 0) {
      input.removeAttribute("aria-activedescendant");
      return;
    }
    var element = options[index].element;
    input.setAttribute("aria-activedescendant", element.id);
    element.scrollIntoView({ block: "nearest" });
  }

  function option(label, detail, url, kind) {
    var element = document.createElement("li");
    element.id = "site-q-option-" + options.length;
    element.className = "suggestion suggestion-" + kind;
    element.setAttribute("role", "option");
    element.setAttribute("aria-selected", "false");
    var name = document.createElement("span");
    name.className = "suggestion-name";
    name.textContent = label;
    element.appendChild(name);
    if (detail) {
      var more = document.createElement("span");
      more.className = "suggestion-detail";
      more.textContent = detail;
      element.appendChild(more);
    }
    // mousedown, not click: the box keeps its focus, so the list is not closed first.
    element.addEventListener("mousedown", function (event) {
      event.preventDefault();
      window.location.assign(url);
    });
    options.push({ element: element, url: url });
    list.appendChild(element);
  }

  function heading(text) {
    var element = document.createElement("li");
    element.className = "suggestion-heading";
    element.setAttribute("role", "presentation");
    element.textContent = text;
    list.appendChild(element);
  }

  function show(query, data) {
    list.replaceChildren();
    options = [];
    active = -1;
    if (data.products.length) {
      heading(data.corrected ? "Products for \u201c" + data.corrected + "\u201d" : "Products");
      data.products.forEach(function (p) {
        option(p.name, "by " + p.publisher, p.url, "product");
      });
    }
    if (data.publishers.length) {
      heading("Publishers");
      data.publishers.forEach(function (p) {
        option(p.name, p.products + (p.products === 1 ? " product" : " products"), p.url, "publisher");
      });
    }
    var everything = form.getAttribute("action") + "?q=" + encodeURIComponent(query);
    option("Search for \u201c" + query + "\u201d", "", everything, "search");
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    var found = data.products.length + data.publishers.length;
    status.textContent = found
      ? found + (found === 1 ? " suggestion" : " suggestions") + ", use the arrow keys to choose"
      : "No suggestions";
  }

  function suggest() {
    var query = input.value.trim();
    if (query.length < MIN_LENGTH) {
      close();
      return;
    }
    if (cache.has(query)) {
      show(query, cache.get(query));
      return;
    }
    if (pending) {
      pending.abort();
    }
    pending = new AbortController();
    fetch(endpoint + "?q=" + encodeURIComponent(query), {
      headers: { Accept: "application/json" },
      signal: pending.signal,
      credentials: "omit"
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (!data) {
        return;
      }
      cache.set(query, data);
      if (input.value.trim() === query && document.activeElement === input) {
        show(query, data);
      }
    }).catch(function () {
      // Aborted by a newer keystroke, or offline: the form still searches.
    });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(suggest, DELAY);
  });

  input.addEventListener("keydown", function (event) {
    var open = !list.hidden && options.length > 0;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!open) {
        suggest();
        return;
      }
      highlight(active + 1 >= options.length ? 0 : active + 1);
    } else if (event.key === "ArrowUp") {
      if (open) {
        event.preventDefault();
        highlight(active <= 0 ? options.length - 1 : active - 1);
      }
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        window.location.assign(options[active].url);
      }
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        close();
      } else if (input.value) {
        event.preventDefault();
        input.value = "";
      }
    }
  });

  input.addEventListener("blur", function () {
    window.setTimeout(close, 100);
  });
}());
