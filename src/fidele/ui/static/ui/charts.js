/* Draws the dashboards' charts with the vendored ECharts (ui/vendor/echarts).
 *
 * Each chart is a <div class="echart" data-chart="ID"> beside a <script type="application/json"
 * id="ID"> written by Django's json_script: {title, labels, series: [{name, data, kind, unit}],
 * kind: bar|line|stacked|heatmap, unit}. No inline script (the Content-Security-Policy allows
 * none), and the same figures are in a table beside each chart for screen readers.
 */
(function () {
  "use strict";
  var PALETTE = ["#0f5f5a", "#9a4b16", "#7a8b99", "#c99a2e", "#5b7f3a", "#8a3b5e"];
  var lang = document.documentElement.lang || "fr";

  function formatter(unit, currency) {
    if (unit === "money") {
      var money = new Intl.NumberFormat(lang, { style: "currency", currency: currency || "EUR", maximumFractionDigits: 0 });
      return function (v) { return v == null ? "—" : money.format(v); };
    }
    if (unit === "days") {
      var days = new Intl.NumberFormat(lang, { style: "unit", unit: "day", unitDisplay: "short", maximumFractionDigits: 0 });
      return function (v) { return v == null ? "—" : days.format(v); };
    }
    if (unit === "percent") {
      return function (v) { return v == null ? "—" : new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(v) + " %"; };
    }
    var number = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
    return function (v) { return v == null ? "—" : number.format(v); };
  }

  function axisOption(data, el) {
    var currency = el.getAttribute("data-currency");
    var units = [];
    data.series.forEach(function (s) {
      var unit = s.unit || "number";
      if (units.indexOf(unit) === -1) units.push(unit);
    });
    var narrow = el.clientWidth < 480;
    var yAxis = units.map(function (unit, i) {
      var format = formatter(unit, currency);
      return {
        type: "value",
        position: i === 0 ? "left" : "right",
        // A third scale (days beside money and counts) stands further right.
        offset: i > 1 ? (narrow ? 36 : 52) * (i - 1) : 0,
        splitLine: { show: i === 0 },
        axisLabel: { formatter: format, fontSize: narrow ? 10 : 12 },
      };
    });
    var stacked = data.kind === "stacked";
    var series = data.series.map(function (s, i) {
      var kind = s.kind || (data.kind === "line" ? "line" : "bar");
      var unit = s.unit || "number";
      var format = formatter(unit, currency);
      return {
        name: s.name,
        type: kind,
        data: s.data,
        yAxisIndex: units.indexOf(unit),
        stack: stacked && kind === "bar" ? "total" : undefined,
        smooth: kind === "line",
        connectNulls: true,
        symbolSize: 5,
        tooltip: { valueFormatter: format },
        itemStyle: { color: PALETTE[i % PALETTE.length] },
      };
    });
    return {
      animation: false,
      aria: { enabled: true },
      textStyle: { fontFamily: "system-ui, sans-serif" },
      color: PALETTE,
      // Room on the right for a third scale, and for the last label of the axis.
      grid: { left: 8, right: units.length > 2 ? (narrow ? 48 : 68) : 24, top: 40, bottom: 8, containLabel: true },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis", confine: true },
      xAxis: { type: "category", data: data.labels, axisLabel: { fontSize: narrow ? 10 : 12, hideOverlap: true } },
      yAxis: yAxis,
      series: series,
    };
  }

  function heatmapOption(data, el) {
    var cohorts = data.series.map(function (s) { return s.name; });
    var points = [];
    data.series.forEach(function (s, row) {
      s.data.forEach(function (value, col) {
        if (value != null) points.push([col, row, value]);
      });
    });
    var max = points.reduce(function (m, p) { return Math.max(m, p[2]); }, 0) || 1;
    var narrow = el.clientWidth < 480;
    var format = formatter("percent");
    return {
      animation: false,
      aria: { enabled: true },
      grid: { left: 8, right: 8, top: 8, bottom: 56, containLabel: true },
      tooltip: {
        position: "top",
        confine: true,
        formatter: function (p) {
          return cohorts[p.value[1]] + " · " + data.labels[p.value[0]] + " : " + format(p.value[2]);
        },
      },
      xAxis: { type: "category", data: data.labels, splitArea: { show: true } },
      yAxis: { type: "category", data: cohorts, inverse: true, splitArea: { show: true } },
      visualMap: {
        min: 0, max: max, calculable: false, orient: "horizontal", left: "center", bottom: 0,
        itemHeight: narrow ? 100 : 160, inRange: { color: ["#f1f2ef", "#8fc1b9", "#0f5f5a"] },
        formatter: function (v) { return format(v); },
      },
      series: [{
        type: "heatmap",
        data: points,
        label: { show: !narrow, formatter: function (p) { return Math.round(p.value[2]); }, fontSize: 11 },
      }],
    };
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    if (!data.labels.length) {
      el.classList.add("echart-empty");
      el.style.height = "auto";
      return;
    }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(data.kind === "heatmap" ? heatmapOption(data, el) : axisOption(data, el));
    el.setAttribute("data-drawn", "1");
    return chart;
  }

  function start() {
    var charts = [];
    document.querySelectorAll(".echart[data-chart]").forEach(function (el) {
      var chart = draw(el);
      if (chart) charts.push(chart);
    });
    var pending;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 150);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
