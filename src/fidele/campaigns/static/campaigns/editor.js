/* Campaign editor: a small rich-text editor over the body textarea, and the A/B fields toggle.
   The textarea stays the source of truth (it is what the form posts); the server sanitises
   rich text again with nh3, so this file only has to keep the editing surface safe. */
(function () {
  "use strict";
  var form = document.querySelector("[data-campaign-form]");
  if (!form) return;
  var format = form.querySelector("#id_body_format");
  var source = form.querySelector("#id_body");
  var surface = form.querySelector("[data-richtext]");
  var toolbar = form.querySelector("[data-toolbar]");
  var hint = form.querySelector("[data-format-hint]");

  var ALLOWED = {
    P: [], BR: [], STRONG: [], B: [], EM: [], I: [], U: [], S: [], A: ["href", "title"],
    UL: [], OL: [], LI: [], H1: [], H2: [], H3: [], H4: [], BLOCKQUOTE: [], HR: [], SPAN: [],
    DIV: [], IMG: ["src", "alt", "width", "height"], TABLE: [], THEAD: [], TBODY: [], TR: [],
    TH: ["colspan", "rowspan", "scope"], TD: ["colspan", "rowspan"]
  };
  var SAFE_URL = /^(https?:|mailto:|tel:|#|\{\{)/i;

  // HTML from another editor may carry event handlers: parse it in an inert document (nothing
  // runs, nothing loads) and keep only the tags and attributes the server would keep.
  function clean(node) {
    Array.prototype.slice.call(node.childNodes).forEach(function (child) {
      if (child.nodeType === 3) return;
      if (child.nodeType !== 1) { child.remove(); return; }
      var allowed = ALLOWED[child.tagName];
      if (!allowed) {
        if (/^(SCRIPT|STYLE|IFRAME|OBJECT|EMBED|TEMPLATE|HEAD|TITLE|META|LINK)$/.test(child.tagName)) {
          child.remove();
        } else {
          clean(child);
          while (child.firstChild) child.parentNode.insertBefore(child.firstChild, child);
          child.remove();
        }
        return;
      }
      Array.prototype.slice.call(child.attributes).forEach(function (attr) {
        var name = attr.name.toLowerCase();
        var keep = allowed.indexOf(name) !== -1;
        if (keep && (name === "href" || name === "src") && !SAFE_URL.test(attr.value.trim())) keep = false;
        if (!keep) child.removeAttribute(attr.name);
      });
      clean(child);
    });
    return node;
  }

  function load(html) {
    var doc = new DOMParser().parseFromString(html || "", "text/html");
    clean(doc.body);
    surface.replaceChildren.apply(surface, Array.prototype.slice.call(doc.body.childNodes).map(function (n) {
      return document.importNode(n, true);
    }));
  }

  function save() {
    if (format.value === "richtext") source.value = surface.innerHTML;
  }

  var previous = format.value;
  function show() {
    var rich = format.value === "richtext";
    surface.hidden = !rich;
    toolbar.hidden = !rich;
    source.hidden = rich;
    if (rich) load(source.value);
    if (hint) hint.textContent = hint.getAttribute("data-hint-" + format.value) || "";
  }

  format.addEventListener("change", function () {
    if (previous === "richtext") source.value = surface.innerHTML;
    previous = format.value;
    show();
  });
  surface.addEventListener("input", save);
  form.addEventListener("submit", save);
  toolbar.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-cmd]");
    if (!button) return;
    event.preventDefault();
    surface.focus();
    var command = button.getAttribute("data-cmd");
    if (command === "createLink") {
      var url = window.prompt(button.getAttribute("data-prompt"), "https://");
      if (url && SAFE_URL.test(url.trim())) document.execCommand("createLink", false, url.trim());
    } else if (command === "formatBlock") {
      document.execCommand("formatBlock", false, button.getAttribute("data-value"));
    } else {
      document.execCommand(command, false, null);
    }
    save();
  });
  show();

  var ab = form.querySelector("#id_ab_enabled");
  var abFields = form.querySelector("[data-ab-fields]");
  if (ab && abFields) {
    var toggle = function () { abFields.hidden = !ab.checked; };
    ab.addEventListener("change", toggle);
    toggle();
  }
})();
