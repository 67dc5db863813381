// The segment builder: draws the rule of the textarea #id_rules as nested groups of conditions
// and writes it back as JSON on every change (the form posts the textarea; the live count
// listens to its "input" event). Without this script the textarea alone still works.
(function () {
  "use strict";
  var root = document.getElementById("segment-builder");
  var configNode = document.getElementById("segment-builder-config");
  if (!root || !configNode) return;
  var input = document.getElementById(root.dataset.rulesInput);
  var config = JSON.parse(configNode.textContent);
  var T = config.text;
  var fieldsByName = {};
  config.fields.forEach(function (f) { fieldsByName[f.name] = f; });
  var uid = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function labelled(text, control) {
    var id = "sb-" + (++uid);
    control.id = id;
    return el("span", { className: "sb-control" }, [el("label", { "for": id, text: text, className: "visually-hidden" }), control]);
  }
  function select(options, value, onChange) {
    var node = el("select");
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      node.appendChild(opt);
    });
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }
  function textInput(value, onChange, type, list) {
    var node = el("input", { type: type || "text", value: value === undefined || value === null ? "" : value });
    if (list) node.setAttribute("list", list);
    node.addEventListener("input", function () { onChange(node.value); });
    return node;
  }
  function datalist(id, values) {
    if (document.getElementById(id)) return;
    var list = el("datalist", { id: id });
    values.forEach(function (v) { list.appendChild(el("option", { value: v })); });
    document.body.appendChild(list);
  }
  datalist("sb-cities", config.suggestions.cities);
  datalist("sb-categories", config.suggestions.categories);

  // --- the model: {group: "all"|"any", negate, items: [...]} or {leaf: {...}, negate} -------
  function fromJson(rule) {
    if (rule && typeof rule === "object" && !Array.isArray(rule)) {
      if ("not" in rule && Object.keys(rule).length === 1) {
        var inner = fromJson(rule.not);
        inner.negate = !inner.negate;
        return inner;
      }
      if (Array.isArray(rule.all)) return { group: "all", negate: false, items: rule.all.map(fromJson) };
      if (Array.isArray(rule.any)) return { group: "any", negate: false, items: rule.any.map(fromJson) };
    }
    return { leaf: rule, negate: false };
  }
  function toJson(node) {
    var out;
    if (node.group) out = {}, out[node.group] = node.items.map(toJson);
    else out = node.leaf;
    return node.negate ? { not: out } : out;
  }
  function kindOf(leaf) {
    var kinds = ["field", "tag", "list", "orders", "email", "rfm"];
    for (var i = 0; i < kinds.length; i++) if (leaf && typeof leaf === "object" && kinds[i] in leaf) return kinds[i];
    return "field";
  }
  function newLeaf(kind) {
    switch (kind) {
      case "tag": return { tag: config.suggestions.tags[0] || "" };
      case "list": return { list: config.suggestions.lists[0] || "" };
      case "orders": return { orders: { since_days: 365, count_gte: 1 } };
      case "email": return { email: { event: "open", within_days: 30 } };
      case "rfm": return { rfm: config.rfm[0].code };
      default: return { field: "city", op: "eq", value: "" };
    }
  }

  var model;
  function changed() {
    input.value = JSON.stringify(toJson(model), null, 2);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function number(value) {
    if (value === "" || value === null || value === undefined) return undefined;
    var n = Number(String(value).replace(",", "."));
    return isNaN(n) ? value : n;
  }
  function setOption(spec, key, raw, asText) {
    var value = asText ? raw : number(raw);
    if (value === undefined || value === "") delete spec[key]; else spec[key] = value;
    changed();
  }

  // --- drawing ----------------------------------------------------------------------------
  function drawLeafBody(node, box) {
    var leaf = node.leaf;
    var kind = kindOf(leaf);
    box.innerHTML = "";
    if (kind === "field") {
      var isAttr = typeof leaf.field === "string" && leaf.field.indexOf("attr.") === 0;
      var info = isAttr ? { type: "attr", ops: config.attr_ops } : (fieldsByName[leaf.field] || config.fields[0]);
      var fieldOptions = config.fields.map(function (f) { return [f.name, f.label]; });
      fieldOptions.push(["attr.", T.attr]);
      box.appendChild(labelled(T.field, select(fieldOptions, isAttr ? "attr." : leaf.field, function (v) {
        leaf.field = v === "attr." ? "attr." : v;
        var ops = v === "attr." ? config.attr_ops : fieldsByName[v].ops;
        if (ops.indexOf(leaf.op) < 0) leaf.op = ops[0];
        if (v !== "attr." && fieldsByName[v].type === "bool") leaf.value = true;
        changed(); drawLeafBody(node, box);
      })));
      if (isAttr) {
        box.appendChild(labelled(T.attr_key, textInput(leaf.field.slice(5), function (v) { leaf.field = "attr." + v.trim(); changed(); })));
      }
      box.appendChild(labelled(T.operator, select(info.ops.map(function (o) { return [o, config.ops[o]]; }), leaf.op, function (v) {
        leaf.op = v;
        if (v === "is_empty" || v === "is_not_empty") delete leaf.value;
        else if (v === "within_last_days") leaf.value = 30;
        else if ((v === "in" || v === "not_in") && !Array.isArray(leaf.value)) leaf.value = leaf.value ? [leaf.value] : [];
        else if (Array.isArray(leaf.value)) leaf.value = leaf.value[0] || "";
        changed(); drawLeafBody(node, box);
      })));
      if (leaf.op === "is_empty" || leaf.op === "is_not_empty") return;
      if (info.type === "bool") {
        box.appendChild(labelled(T.value, select([["true", T.yes], ["false", T.no]], String(leaf.value), function (v) { leaf.value = v === "true"; changed(); })));
        return;
      }
      var type = "text", list = leaf.field === "city" ? "sb-cities" : null;
      if (leaf.op === "within_last_days") type = "number";
      else if (info.type === "date" || info.type === "datetime") type = "date";
      var shown = Array.isArray(leaf.value) ? leaf.value.join(", ") : leaf.value;
      box.appendChild(labelled(T.value, textInput(shown, function (v) {
        if (leaf.op === "in" || leaf.op === "not_in") leaf.value = v.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
        else if (leaf.op === "within_last_days" || (info.type === "attr" && /^(lt|lte|gt|gte)$/.test(leaf.op) && /^-?[0-9]+([.,][0-9]+)?$/.test(v.trim()))) leaf.value = number(v);
        else leaf.value = v;
        changed();
      }, type, list)));
    } else if (kind === "tag" || kind === "list") {
      var values = kind === "tag" ? config.suggestions.tags : config.suggestions.lists;
      var current = leaf[kind];
      var options = values.map(function (v) { return [v, v]; });
      if (current && values.indexOf(current) < 0) options.unshift([current, current]);
      box.appendChild(labelled(T.kinds[kind], select(options, current, function (v) { leaf[kind] = v; changed(); })));
    } else if (kind === "rfm") {
      box.appendChild(labelled(T.kinds.rfm, select(config.rfm.map(function (r) { return [r.code, r.label]; }), leaf.rfm, function (v) { leaf.rfm = v; changed(); })));
    } else if (kind === "orders") {
      var spec = leaf.orders = (leaf.orders && typeof leaf.orders === "object") ? leaf.orders : {};
      [["since_days", "number"], ["count_gte", "number"], ["count_lte", "number"], ["total_gte", "number"], ["total_lte", "number"], ["last_within_days", "number"], ["product", "text"], ["category", "text"]].forEach(function (pair) {
        var key = pair[0];
        var control = textInput(spec[key], function (v) { setOption(spec, key, v, pair[1] === "text"); }, pair[1], key === "category" ? "sb-categories" : null);
        if (pair[1] === "number") control.setAttribute("min", "0");
        box.appendChild(el("span", { className: "sb-option" }, [labelledVisible(T[key], control)]));
      });
    } else if (kind === "email") {
      var espec = leaf.email = (leaf.email && typeof leaf.email === "object") ? leaf.email : { event: "open" };
      box.appendChild(el("span", { className: "sb-option" }, [labelledVisible(T.event, select(config.events.map(function (e) { return [e.code, e.label]; }), espec.event, function (v) { espec.event = v; changed(); }))]));
      ["within_days", "campaign", "count_gte", "count_lte"].forEach(function (key) {
        var control = textInput(espec[key], function (v) { setOption(espec, key, v, false); }, "number");
        control.setAttribute("min", "0");
        box.appendChild(el("span", { className: "sb-option" }, [labelledVisible(T[key], control)]));
      });
      box.appendChild(el("p", { className: "help", text: T.did_not }));
    }
  }
  function labelledVisible(text, control) {
    var id = "sb-" + (++uid);
    control.id = id;
    return el("span", { className: "sb-labelled" }, [el("label", { "for": id, text: text }), control]);
  }
  function negateBox(node) {
    var box = el("input", { type: "checkbox" });
    box.checked = !!node.negate;
    box.addEventListener("change", function () { node.negate = box.checked; changed(); draw(); });
    var id = "sb-" + (++uid);
    box.id = id;
    return el("span", { className: "sb-not" }, [box, el("label", { "for": id, text: T.not })]);
  }
  function removeButton(parent, index) {
    var button = el("button", { type: "button", className: "btn btn-sm sb-remove", text: T.remove });
    button.addEventListener("click", function () { parent.items.splice(index, 1); changed(); draw(); });
    return button;
  }
  function drawNode(node, parent, index, depth) {
    if (node.group) return drawGroup(node, parent, index, depth);
    var body = el("div", { className: "sb-leaf-body" });
    var kindSelect = select(Object.keys(T.kinds).map(function (k) { return [k, T.kinds[k]]; }), kindOf(node.leaf), function (v) {
      node.leaf = newLeaf(v); changed(); drawLeafBody(node, body);
    });
    var row = el("div", { className: "sb-leaf" + (node.negate ? " sb-negated" : "") }, [
      el("div", { className: "sb-leaf-head" }, [negateBox(node), labelled(T.kind, kindSelect), parent ? removeButton(parent, index) : null]),
      body,
    ]);
    drawLeafBody(node, body);
    return row;
  }
  function drawGroup(node, parent, index, depth) {
    var items = el("ol", { className: "sb-items" });
    node.items.forEach(function (child, i) { items.appendChild(el("li", {}, [drawNode(child, node, i, depth + 1)])); });
    var addLeaf = el("button", { type: "button", className: "btn btn-sm", text: T.add_condition });
    addLeaf.addEventListener("click", function () { node.items.push({ leaf: newLeaf("field"), negate: false }); changed(); draw(); });
    var addGroup = el("button", { type: "button", className: "btn btn-sm", text: T.add_group });
    addGroup.addEventListener("click", function () { node.items.push({ group: node.group === "all" ? "any" : "all", negate: false, items: [{ leaf: newLeaf("field"), negate: false }] }); changed(); draw(); });
    var mode = select([["all", T.all], ["any", T.any]], node.group, function (v) { node.group = v; changed(); draw(); });
    return el("fieldset", { className: "sb-group sb-depth-" + Math.min(depth, 4) + (node.negate ? " sb-negated" : "") }, [
      el("legend", {}, [negateBox(node), el("span", { text: " " + T.match + " " }), labelled(T.match, mode), parent ? removeButton(parent, index) : null]),
      items,
      el("div", { className: "sb-add" }, [addLeaf, addGroup]),
    ]);
  }
  var warning = el("p", { className: "callout danger", role: "alert", text: T.json_invalid, hidden: "hidden" });
  function draw() {
    root.innerHTML = "";
    root.appendChild(warning);
    root.appendChild(drawNode(model, null, 0, 0));
  }
  function load() {
    var rule;
    try { rule = JSON.parse(input.value || "{}"); } catch (e) { warning.hidden = false; return false; }
    warning.hidden = true;
    model = fromJson(rule);
    if (!model.group) model = { group: "all", negate: false, items: [model] };
    return true;
  }
  // Someone editing the JSON by hand: redraw when it reads, keep the last drawing when not.
  input.addEventListener("change", function () { if (load()) draw(); });
  if (!load()) model = { group: "all", negate: false, items: [] };
  draw();
})();
