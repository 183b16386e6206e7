// What the dashboard's and the insights page's charts share: Chart.js defaults, bars and points
// that open the list behind them, and the durations' logarithmic axis with round ticks.
(function () {
  "use strict";

  // Tick marks for duration axes: a stage of minutes beside one of hours, so the axis is
  // logarithmic, with ticks at round durations.
  var DURATION_TICKS = {
    1: "1 s", 10: "10 s", 60: "1 min", 600: "10 min", 3600: "1 h", 21600: "6 h", 86400: "1 day",
    604800: "1 week", 2592000: "30 days",
  };

  function setDefaults() {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#475467";
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.plugins.legend.labels.boxWidth = 12;
  }

  // A log axis can't show 0 (detected the moment it started): plotted at 1 s, shown as it is.
  function plotted(values) {
    return values.map(function (v) { return v === null ? null : Math.max(v, 1); });
  }

  // Clicking a bar or point opens the list behind that count, as the tables' links do.
  // `links` holds, per dataset, one URL per label.
  function openLink(links) {
    return function (event, elements, chart) {
      if (!elements.length || !links) {
        return;
      }
      // The bar under the pointer, if any; else the label's first one (the tooltip shows them all).
      var hit = chart.getElementsAtEventForMode(event, "nearest", { intersect: true }, false);
      var element = hit.length ? hit[0] : elements[0];
      var perLabel = links[element.datasetIndex] || links[0];
      var url = perLabel[element.index];
      if (url) {
        window.location.assign(url);
      }
    };
  }

  // What makes a chart's bars and points open their lists.
  function clickable(links) {
    return {
      onClick: openLink(links),
      onHover: function (event, elements) {
        event.native.target.style.cursor = elements.length && links ? "pointer" : "default";
      },
    };
  }

  // A y axis of durations in seconds: logarithmic, ticks at DURATION_TICKS.
  function durationAxis() {
    return {
      type: "logarithmic",
      afterBuildTicks: function (axis) {
        var ticks = Object.keys(DURATION_TICKS).map(Number).filter(function (v) {
          return v >= axis.min && v <= axis.max;
        });
        if (ticks.length >= 2) {
          axis.ticks = ticks.map(function (v) { return { value: v }; });
        }
      },
      ticks: {
        callback: function (value) { return DURATION_TICKS[value] || ""; },
      },
    };
  }

  window.OpslogCharts = {
    DURATION_TICKS: DURATION_TICKS,
    setDefaults: setDefaults,
    plotted: plotted,
    clickable: clickable,
    durationAxis: durationAxis,
  };
})();
