/* The post-mortem editor: a live Markdown preview beside each section, and a gentle note under a
 * section that uses blame language. A file, not inline code, so a strict Content-Security-Policy
 * can forbid inline scripts. The blame rules come from postmortems/blame.py through json_script; the
 * preview HTML comes from the server, sanitized by the same code that renders the saved page. */
(function () {
  "use strict";

  var form = document.querySelector("form.postmortem-editor");
  var rulesElement = document.getElementById("blame-patterns");
  if (!form || !rulesElement) {
    return;
  }
  var PREVIEW_DELAY_MS = 300;
  var previewUrl = form.getAttribute("data-preview-url");
  var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
  var rules = JSON.parse(rulesElement.textContent);

  var phraseRules = rules.phrases.map(function (rule) {
    return { re: new RegExp(rule.pattern, rule.flags), message: rule.message };
  });
  var nameRule = {
    re: new RegExp(rules.name_as_subject.pattern, rules.name_as_subject.flags),
    message: rules.name_as_subject.message,
  };
  var notNames = {};
  rules.not_names.forEach(function (name) { notNames[name] = true; });

  function matches(rule, text, keep) {
    var found = [];
    var re = new RegExp(rule.re.source, rule.re.flags);
    var match;
    while ((match = re.exec(text)) !== null) {
      if (match[0].length === 0) {
        re.lastIndex += 1;
        continue;
      }
      if (!keep || keep(match[0])) {
        found.push({ start: match.index, end: match.index + match[0].length, text: match[0], message: rule.message });
      }
    }
    return found;
  }

  /* The same rules as incidents.blame.find_blame, in order of appearance. */
  function findBlame(text) {
    var hints = [];
    phraseRules.forEach(function (rule) { hints = hints.concat(matches(rule, text)); });
    hints = hints.concat(matches(nameRule, text, function (found) { return !notNames[found.split(" ")[0]]; }));
    hints.sort(function (a, b) { return a.start - b.start || b.end - a.end; });
    return hints;
  }

  function showHints(textarea) {
    var box = form.querySelector('[data-blame-for="' + textarea.id + '"]');
    if (!box) {
      return;
    }
    var hints = findBlame(textarea.value);
    box.textContent = "";
    if (!hints.length) {
      box.hidden = true;
      return;
    }
    var title = document.createElement("p");
    title.className = "blame-title";
    title.textContent = "A gentle note: this may read as blame.";
    box.appendChild(title);
    var list = document.createElement("ul");
    var seen = {};
    hints.forEach(function (hint) {
      var key = hint.text.toLowerCase() + "\u0000" + hint.message;
      if (seen[key]) {
        return;
      }
      seen[key] = true;
      var item = document.createElement("li");
      var phrase = document.createElement("mark");
      phrase.textContent = hint.text;
      item.appendChild(phrase);
      item.appendChild(document.createTextNode(" — " + hint.message));
      list.appendChild(item);
    });
    box.appendChild(list);
    var suggestion = document.createElement("p");
    suggestion.className = "blame-suggestion";
    suggestion.textContent = rules.suggestion + " (Saving is never blocked.)";
    box.appendChild(suggestion);
    box.hidden = false;
  }

  function previewer(textarea) {
    var target = form.querySelector('[data-preview-for="' + textarea.id + '"]');
    var timer = null;
    var sent = 0;
    if (!target || !previewUrl || !window.fetch) {
      return function () {};
    }
    function request() {
      var number = ++sent;
      var body = new FormData();
      body.append("text", textarea.value);
      target.setAttribute("aria-busy", "true");
      fetch(previewUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfInput ? csrfInput.value : "" },
      })
        .then(function (response) {
          // A redirect means the session ended (the login page): never show that as a preview.
          if (!response.ok || response.redirected) {
            throw new Error(response.redirected ? "Log in again to see the preview." : "No preview right now.");
          }
          return response.text();
        })
        .then(function (html) {
          if (number !== sent) {
            return; // A later request is on its way; its answer wins.
          }
          target.innerHTML = html; // Sanitized by the server (nh3).
          target.setAttribute("data-preview-state", "fresh");
        })
        .catch(function (error) {
          if (number === sent) {
            target.setAttribute("data-preview-state", "error");
            target.textContent = error.message || "No preview right now.";
          }
        })
        .then(function () {
          if (number === sent) {
            target.removeAttribute("aria-busy");
          }
        });
    }
    return function () {
      window.clearTimeout(timer);
      target.setAttribute("data-preview-state", "stale");
      timer = window.setTimeout(request, PREVIEW_DELAY_MS);
    };
  }

  form.querySelectorAll("textarea").forEach(function (textarea) {
    var isSection = !!form.querySelector('[data-preview-for="' + textarea.id + '"]');
    if (!isSection) {
      return;
    }
    var preview = previewer(textarea);
    showHints(textarea);
    textarea.addEventListener("input", function () {
      showHints(textarea);
      preview();
    });
  });
})();
