// The dashboard's charts, drawn with the vendored Chart.js from the numbers the page embeds
// (json_script "report-data"). No inline script: the page works under a strict CSP.
(function () {
  "use strict";

  // Say so when the month-by-month table scrolls sideways: the last columns are out of sight.
  var box = document.getElementById("months-table");
  var hint = document.getElementById("months-scroll-hint");
  if (box && hint) {
    var showHint = function () { hint.hidden = box.scrollWidth <= box.clientWidth + 1; };
    showHint();
    window.addEventListener("resize", showHint);
  }

  var source = document.getElementById("report-data");
  if (!source || typeof Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);

  var COLORS = {
    deploys: "#1849a9",
    deployers: "#f79009",
    incidents: "#98a2b3",
    related: "#b42318",
    mttd: "#6941c6",
    mtta: "#c11574",
    mttr: "#1849a9",
    restore: "#067647",
    recovery: "#b54708",
    failures: "#b42318",
  };

  // A month not over yet: drawn lighter, its label says "(partial)" (from the server).
  function faded(color) {
    return data.labels.map(function (_, i) { return data.partial[i] ? color + "55" : color; });
  }

  // Shared with the insights page (charts.js).
  var charts = window.OpslogCharts;
  var plotted = charts.plotted;
  var clickable = charts.clickable;
  charts.setDefaults();

  function countChart(id, datasets, links) {
    var canvas = document.getElementById(id);
    if (!canvas) {
      return;
    }
    new Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: datasets },
      options: Object.assign(clickable(links), {
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      }),
    });
  }

  countChart(
    "chart-deploys",
    [
      { type: "bar", label: "Deploys", data: data.deploys, backgroundColor: faded(COLORS.deploys), order: 2 },
      {
        type: "line", label: "Deployers", data: data.deployers, borderColor: COLORS.deployers,
        backgroundColor: COLORS.deployers, pointRadius: 2, order: 1,
      },
    ],
    [data.links.deploys, data.links.deployers]
  );

  countChart(
    "chart-incidents",
    [
      { label: "Incidents", data: data.incidents, backgroundColor: faded(COLORS.incidents) },
      { label: "Deploy-related", data: data.deploy_related_incidents, backgroundColor: faded(COLORS.related) },
    ],
    [data.links.incidents, data.links.deploy_related_incidents]
  );

  var durationsCanvas = document.getElementById("chart-durations");
  if (durationsCanvas) {
    var texts = [
      data.durations_text.mttd_median, data.durations_text.mtta_median, data.durations_text.mttr_median,
      data.durations_text.time_to_restore_median, data.durations_text.failed_deployment_recovery_median,
    ];
    var line = function (label, values, color) {
      return {
        label: label, data: plotted(values), borderColor: color, backgroundColor: color,
        pointRadius: 2, spanGaps: false,
      };
    };
    new Chart(durationsCanvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          line("MTTD (median)", data.mttd_median, COLORS.mttd),
          line("MTTA (median)", data.mtta_median, COLORS.mtta),
          line("MTTR (median)", data.mttr_median, COLORS.mttr),
          line("Time to restore (median)", data.time_to_restore_median, COLORS.restore),
          line("Failed deployment recovery (median)", data.failed_deployment_recovery_median, COLORS.recovery),
        ],
      },
      options: Object.assign(clickable([
        data.links.mttd, data.links.mtta, data.links.mttr, data.links.time_to_restore,
        data.links.failed_deployment_recovery,
      ]), {
        interaction: { mode: "index", intersect: false },
        scales: {
          y: charts.durationAxis(),
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (context) {
                // The table's words for the same number (reports' for_people), not a second formatter.
                return context.dataset.label + ": " + texts[context.datasetIndex][context.dataIndex];
              },
            },
          },
        },
      }),
    });
  }

  var failuresCanvas = document.getElementById("chart-failures");
  if (failuresCanvas) {
    new Chart(failuresCanvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          {
            label: "Change failure rate",
            data: data.change_failure_rate.map(function (v) { return v === null ? null : v * 100; }),
            borderColor: COLORS.failures, backgroundColor: COLORS.failures, pointRadius: 2,
          },
        ],
      },
      options: Object.assign(clickable([data.links.failed_deploys]), {
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, ticks: { callback: function (v) { return v + " %"; } } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (context) {
                return context.parsed.y === null ? "no deploys" : context.parsed.y.toFixed(1) + " %";
              },
            },
          },
        },
      }),
    });
  }
})();
