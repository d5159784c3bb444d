// Tabs over sections that work without it. The page gives each section its heading and
// an id, and a list of links to them:
//
//   <div class="tabs" data-tabs>
//     <ul class="tab-list" aria-label="..."><li><a href="#tags">Tags</a></li>...</ul>
//     <section class="tab-panel" id="tags">...</section>...
//   </div>
//
// Without this script the list is a table of contents and every section is shown in
// order. With it the list becomes an ARIA tablist: one section shown at a time, arrow
// keys move between tabs (Home and End to the first and last), and the address's
// fragment names the open tab, so #tags opens Tags (on load and when a link changes it).
(function () {
  "use strict";

  function setup(root) {
    var list = root.querySelector(".tab-list");
    if (!list) {
      return;
    }
    var tabs = [];
    var panels = [];
    Array.prototype.forEach.call(list.querySelectorAll("a[href^='#']"), function (link) {
      var panel = document.getElementById(link.getAttribute("href").slice(1));
      if (!panel || !root.contains(panel)) {
        return;
      }
      if (!link.id) {
        link.id = "tab-" + panel.id;
      }
      link.setAttribute("role", "tab");
      link.setAttribute("aria-controls", panel.id);
      if (link.parentNode !== list) {
        link.parentNode.setAttribute("role", "presentation");
      }
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", link.id);
      panel.setAttribute("tabindex", "0");
      tabs.push(link);
      panels.push(panel);
    });
    if (!tabs.length) {
      return;
    }
    list.setAttribute("role", "tablist");
    root.classList.add("tabs-on");

    function select(index, focus) {
      tabs.forEach(function (tab, i) {
        var on = i === index;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.setAttribute("tabindex", on ? "0" : "-1");
        panels[i].hidden = !on;
      });
      if (focus) {
        tabs[index].focus();
      }
    }

    // The panel a fragment names: the panel itself or the one holding the element.
    function indexFor(hash) {
      if (!hash || hash.length < 2) {
        return -1;
      }
      var target = document.getElementById(decodeURIComponent(hash.slice(1)));
      if (!target) {
        return -1;
      }
      for (var i = 0; i < panels.length; i += 1) {
        if (panels[i] === target || panels[i].contains(target)) {
          return i;
        }
      }
      return -1;
    }

    function open(index, focus) {
      select(index, focus);
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#" + panels[index].id);
      }
    }

    list.addEventListener("click", function (event) {
      var index = tabs.indexOf(event.target.closest("[role=tab]"));
      if (index < 0) {
        return;
      }
      event.preventDefault();
      open(index, true);
    });

    list.addEventListener("keydown", function (event) {
      var index = tabs.indexOf(event.target.closest("[role=tab]"));
      if (index < 0 || event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      var next = -1;
      if (event.key === "ArrowRight") {
        next = (index + 1) % tabs.length;
      } else if (event.key === "ArrowLeft") {
        next = (index - 1 + tabs.length) % tabs.length;
      } else if (event.key === "Home") {
        next = 0;
      } else if (event.key === "End") {
        next = tabs.length - 1;
      } else if (event.key === " ") {
        next = index;
      }
      if (next < 0) {
        return;
      }
      event.preventDefault();
      open(next, true);
    });

    window.addEventListener("hashchange", function () {
      var index = indexFor(window.location.hash);
      if (index >= 0) {
        select(index, false);
      }
    });

    var first = indexFor(window.location.hash);
    select(first >= 0 ? first : 0, false);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-tabs]"), setup);
}());
