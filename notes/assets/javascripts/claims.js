// The claims dashboard (kb/site/claims.py writes its markup): filter by status, paper and text, sort,
// and keep the counts to the claims shown. Plain JavaScript, nothing loaded from anywhere. Without it
// the page shows every claim, grouped by paper. document$ is Material's page-load observable, so this
// also runs after instant navigation.
(function () {
  "use strict";
  var STATUSES = ["reproduced", "discrepant", "reported", "failed", "not-shown", "contradicted", "stale"];  // kb.claims.STATUSES, as the counts list them
  var TOY = {"not-shown": "not shown at toy scale", "contradicted": "contradicted at toy scale"};  // experiments' verdicts
  var STATUS_ORDER = ["failed", "stale", "contradicted", "not-shown", "discrepant", "reported", "reproduced"];  // sorting by status: what needs a look first

  function kbClaimsDashboard() {
    var root = document.querySelector(".kb-dashboard");
    if (!root || root.dataset.kbReady) return;
    root.dataset.kbReady = "1";
    var controls = root.querySelector(".kb-controls");
    var status = root.querySelector("#kb-filter-status");
    var paper = root.querySelector("#kb-filter-paper");
    var sort = root.querySelector("#kb-sort");
    var text = root.querySelector("#kb-filter-text");
    var flat = root.querySelector(".kb-flat");
    var none = root.querySelector(".kb-none");
    var shown = root.querySelector(".kb-shown");
    var papers = Array.prototype.slice.call(root.querySelectorAll(".kb-paper"));
    var paperOrder = {};
    papers.forEach(function (section, i) { paperOrder[section.dataset.paper] = i; });
    // Each card remembers where it was written, so "by paper" puts it back.
    var cards = Array.prototype.slice.call(root.querySelectorAll(".kb-paper .kb-card")).map(function (el, i) {
      return { el: el, parent: el.parentNode, next: el.nextSibling, index: i,
               words: el.textContent.toLowerCase().replace(/\s+/g, " ") };
    });

    function matches(card, terms) {
      var data = card.el.dataset;
      if (status.value && data.status !== status.value) return false;
      if (paper.value && data.paper !== paper.value) return false;
      return terms.every(function (t) { return card.words.indexOf(t) >= 0; });
    }

    function place(mode) {
      if (mode === "paper") {
        flat.hidden = true;
        cards.slice().reverse().forEach(function (c) { c.parent.insertBefore(c.el, c.next); });
        root.classList.remove("kb-is-flat");
        return;
      }
      var key = mode === "status"
        ? function (c) { return [STATUS_ORDER.indexOf(c.el.dataset.status), paperOrder[c.el.dataset.paper], c.index]; }
        : function (c) { return [c.el.dataset.id, paperOrder[c.el.dataset.paper], c.index]; };
      var sorted = cards.slice().sort(function (a, b) {
        var ka = key(a), kb = key(b);
        for (var i = 0; i < ka.length; i++) {
          if (ka[i] < kb[i]) return -1;
          if (ka[i] > kb[i]) return 1;
        }
        return 0;
      });
      sorted.forEach(function (c) { flat.appendChild(c.el); });
      flat.hidden = false;
      root.classList.add("kb-is-flat");
    }

    function count(rows) {
      var tally = {};
      cards.forEach(function (c) {
        if (c.el.hidden) return;
        var p = c.el.dataset.paper, s = c.el.dataset.status;
        [p + "\u0000" + s, p + "\u0000", "\u0000" + s, "\u0000"].forEach(function (k) { tally[k] = (tally[k] || 0) + 1; });
      });
      rows.forEach(function (row) {
        row.querySelectorAll("td[data-status]").forEach(function (td) {
          var n = tally[row.dataset.paper + "\u0000" + td.dataset.status] || 0;
          td.textContent = String(n);
          td.classList.toggle("kb-zero", n === 0);
        });
      });
      return tally;
    }

    function update() {
      var terms = text.value.toLowerCase().split(/\s+/).filter(Boolean);
      place(sort.value);
      var visible = 0;
      cards.forEach(function (c) {
        c.el.hidden = !matches(c, terms);
        if (!c.el.hidden) visible++;
      });
      // A group (a table, the outside references, a paper) with nothing left to show is hidden whole.
      root.querySelectorAll(".kb-group, .kb-paper").forEach(function (group) {
        group.hidden = !group.querySelector(".kb-card:not([hidden])");
      });
      if (sort.value !== "paper") papers.forEach(function (section) { section.hidden = true; });
      var tally = count(Array.prototype.slice.call(root.querySelectorAll(".kb-counts tbody tr")));
      var parts = STATUSES.filter(function (s) { return tally["\u0000" + s]; })
        .map(function (s) { return tally["\u0000" + s] + " " + (TOY[s] || s); });
      shown.textContent = (visible === cards.length ? "All " + cards.length + " claims" :
        "Showing " + visible + " of " + cards.length + " claims") + (parts.length ? ": " + parts.join(", ") : "");
      none.hidden = visible !== 0;
    }

    [status, paper, sort].forEach(function (el) { el.addEventListener("change", update); });
    text.addEventListener("input", update);
    controls.hidden = false;
    update();
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(kbClaimsDashboard);
  } else {
    document.addEventListener("DOMContentLoaded", kbClaimsDashboard);
  }
})();
