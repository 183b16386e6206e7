// Suggests the tags in use while someone types in a comma-separated tags field
// (<input data-tag-suggestions="/api/tags/">): the part after the last comma is looked up, and a
// suggestion picked (click, or arrows and Enter) replaces it. Without this script the field is
// plain comma-separated text, which the server reads the same way.
(function () {
  "use strict";
  var MAX_SHOWN = 8;
  var DELAY_MS = 150;

  function parts(value) {
    var all = value.split(",");
    return { done: all.slice(0, -1), typing: all[all.length - 1].trim() };
  }

  function setUp(input, index) {
    // Spans, not a <ul>: the list filter's field sits inside its <label>, which holds phrasing content only.
    var list = document.createElement("span");
    list.id = (input.id || "tags-" + index) + "-suggestions";
    list.className = "tag-suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Tags in use");
    list.hidden = true;
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    var url = input.getAttribute("data-tag-suggestions");
    var timer = null;
    var asked = 0;
    var active = -1;

    function options() { return list.querySelectorAll("[role=option]"); }

    function close() {
      list.hidden = true;
      list.textContent = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(next) {
      var all = options();
      if (!all.length) return;
      active = (next + all.length) % all.length;
      all.forEach(function (option, i) { option.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", all[active].id);
    }

    function pick(name) {
      var p = parts(input.value);
      var kept = p.done.map(function (part) { return part.trim(); }).filter(Boolean);
      kept.push(name);
      input.value = kept.join(", ") + ", ";
      close();
      input.focus();
    }

    function show(tags) {
      list.textContent = "";
      active = -1;
      var p = parts(input.value);
      var taken = p.done.map(function (part) { return part.trim().toLowerCase(); });
      tags = tags.filter(function (tag) { return taken.indexOf(tag.name.toLowerCase()) === -1; }).slice(0, MAX_SHOWN);
      if (!tags.length) { close(); return; }
      tags.forEach(function (tag, i) {
        var option = document.createElement("span");
        option.id = list.id + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.name = tag.name;
        option.textContent = tag.name;
        var count = document.createElement("span");
        count.className = "muted";
        count.textContent = " · " + tag.incident_count;
        option.appendChild(count);
        // mousedown, not click: picking must happen before the input's blur closes the list.
        option.addEventListener("mousedown", function (event) { event.preventDefault(); pick(tag.name); });
        list.appendChild(option);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function lookUp() {
      var typing = parts(input.value).typing;
      if (!typing) { close(); return; }
      var mine = ++asked;
      fetch(url + "?q=" + encodeURIComponent(typing.slice(0, 50)), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) { if (mine === asked) show(data.results || []); })
        .catch(function () { if (mine === asked) close(); });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookUp, DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Enter" && active >= 0) { event.preventDefault(); pick(options()[active].dataset.name); }
      else if (event.key === "Escape") { event.preventDefault(); close(); }
    });
    input.addEventListener("blur", close);
  }

  document.querySelectorAll("input[data-tag-suggestions]").forEach(setUp);
})();
