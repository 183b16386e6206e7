// The insights page's charts, drawn with the vendored Chart.js from the numbers the page embeds
// (json_script "insights-data"), in the dashboard's look (charts.js). No inline script (CSP).
(function () {
  "use strict";

  var source = document.getElementById("insights-data");
  if (!source || typeof Chart === "undefined" || !window.OpslogCharts) {
    return;
  }
  var data = JSON.parse(source.textContent);
  var charts = window.OpslogCharts;
  charts.setDefaults();

  // The dashboard's colours first, then more for the many factors.
  var PALETTE = ["#1849a9", "#f79009", "#b42318", "#6941c6", "#067647", "#c11574", "#98a2b3", "#0e9384", "#4e5ba6", "#dc6803"];
  var SEVERITY_COLORS = ["#b42318", "#f79009", "#1849a9", "#98a2b3"];

  function links(series) {
    return series.map(function (s) { return s.links; });
  }

  function barChart(id, labels, series, colors, options) {
    var canvas = document.getElementById(id);
    if (!canvas || !series.length) {
      return;
    }
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: colors[i % colors.length] };
        }),
      },
      options: Object.assign(charts.clickable(links(series)), {
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      }, options || {}),
    });
  }

  var stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } };
  barChart("chart-factors", data.labels, data.factors, PALETTE, stacked);
  barChart("chart-services", data.services, data.service_severities, SEVERITY_COLORS, stacked);
  barChart("chart-remediations", data.remediation_labels, data.remediations, PALETTE);
  barChart(
    "chart-outside",
    data.labels,
    [{ label: "Began outside working hours", data: data.outside_hours.data, links: data.outside_hours.links }],
    ["#6941c6"],
    { plugins: { legend: { display: false } } }
  );

  var stages = document.getElementById("chart-stages");
  if (stages) {
    new Chart(stages, {
      type: "bar",
      data: {
        labels: data.severity_labels,
        datasets: data.stages.map(function (s, i) {
          return { label: s.label + " (median)", data: charts.plotted(s.data), backgroundColor: PALETTE[i] };
        }),
      },
      options: Object.assign(charts.clickable(links(data.stages)), {
        interaction: { mode: "index", intersect: false },
        scales: { y: charts.durationAxis() },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (context) {
                // The table's words for the same number (reports' for_people), not a second formatter.
                return context.dataset.label + ": " + data.stages[context.datasetIndex].text[context.dataIndex];
              },
            },
          },
        },
      }),
    });
  }
})();
