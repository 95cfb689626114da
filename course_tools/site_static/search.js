/* The course site's search box: full-text search, offline, from the prebuilt index.
 *
 * The index (search/index.js, the same data as search/index.json) is loaded with a <script>
 * tag the first time the box is used, so it works from a page opened from disk (file://),
 * where fetch() of a local JSON file is refused. No network, no library.
 * A section matches when every word of the query occurs in its heading, prose or code
 * (case-insensitive substring); results are ranked by where and how often the words occur.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var root = (script && script.getAttribute("data-root")) || "";
  var MAX_RESULTS = 30;
  var MATH = /\$\$[\s\S]+?\$\$|\$[^$\n]+?\$|\\\([\s\S]+?\\\)|\\\[[\s\S]+?\\\]/g;
  var index = null, loading = false, timer = null;
  var input, status, list;

  function prepare(data) {
    data.sections.forEach(function (s, i) {
      s.order = i;
      s.lh = s.heading.toLowerCase();
      s.lt = s.text.toLowerCase();
      s.lc = s.code.toLowerCase();
    });
    return data;
  }

  function load(then) {
    if (index) { then(); return; }
    if (window.COURSE_SEARCH_INDEX) { index = prepare(window.COURSE_SEARCH_INDEX); then(); return; }
    if (loading) return;
    loading = true;
    var tag = document.createElement("script");
    tag.src = root + "search/index.js";
    tag.onload = function () {
      loading = false;
      if (window.COURSE_SEARCH_INDEX) { index = prepare(window.COURSE_SEARCH_INDEX); run(); }
    };
    tag.onerror = function () {
      loading = false;
      status.textContent = "The search index (search/index.js) could not be loaded.";
    };
    document.head.appendChild(tag);
  }

  function words(query) {
    return query.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; });
  }

  function count(hay, word) {
    var n = 0, i = hay.indexOf(word);
    while (i !== -1 && n < 50) { n++; i = hay.indexOf(word, i + word.length); }
    return n;
  }

  function search(query) {
    var ws = words(query), hits = [];
    if (!ws.length) return hits;
    index.sections.forEach(function (s) {
      var score = 0;
      for (var k = 0; k < ws.length; k++) {
        var h = count(s.lh, ws[k]), t = count(s.lt, ws[k]), c = count(s.lc, ws[k]);
        if (!h && !t && !c) return;
        score += 12 * h + 3 * Math.min(t, 10) + Math.min(c, 10);
      }
      hits.push({ s: s, score: score });
    });
    hits.sort(function (a, b) { return b.score - a.score || a.s.order - b.s.order; });
    return hits;
  }

  function mathSpans(text) {
    var spans = [], m;
    MATH.lastIndex = 0;
    while ((m = MATH.exec(text)) !== null) spans.push([m.index, m.index + m[0].length]);
    return spans;
  }

  /* A window of `text` around its first match that cuts no equation in two. */
  function excerpt(text, lower, ws) {
    var at = -1;
    ws.forEach(function (w) { var i = lower.indexOf(w); if (i !== -1 && (at === -1 || i < at)) at = i; });
    if (at === -1) at = 0;
    var a = Math.max(0, at - 70), b = Math.min(text.length, at + 130);
    var spans = mathSpans(text);
    spans.forEach(function (sp) {
      if (sp[0] < a && sp[1] > a) a = sp[1] - sp[0] < 300 ? sp[0] : sp[1];
      if (sp[0] < b && sp[1] > b) b = sp[1] - sp[0] < 300 ? sp[1] : sp[0];
    });
    if (b < a) b = a;
    if (a < 25 && !inSpan(spans, 0)) a = 0;  // no "…" for a few words
    if (text.length - b < 25) b = text.length;
    while (a > 0 && /\S/.test(text[a - 1]) && !inSpan(spans, a - 1)) a--;
    while (b < text.length && /\S/.test(text[b]) && !inSpan(spans, b)) b++;
    return { a: a, b: b, spans: spans };
  }

  function inSpan(spans, i) {
    for (var k = 0; k < spans.length; k++) if (i >= spans[k][0] && i < spans[k][1]) return true;
    return false;
  }

  /* Append text[a:b] to `el`, the query's words in <mark> (never inside an equation). */
  function highlight(el, text, lower, a, b, ws, spans) {
    var i = a, plain = "";
    function flush() { if (plain) { el.appendChild(document.createTextNode(plain)); plain = ""; } }
    while (i < b) {
      var hit = null;
      if (!inSpan(spans, i)) {
        for (var k = 0; k < ws.length; k++) {
          if (lower.substr(i, ws[k].length) === ws[k] && i + ws[k].length <= b) { hit = ws[k]; break; }
        }
      }
      if (hit) {
        flush();
        var mark = document.createElement("mark");
        mark.textContent = text.substr(i, hit.length);
        el.appendChild(mark);
        i += hit.length;
      } else {
        plain += text[i];
        i++;
      }
    }
    flush();
  }

  function result(hit, ws) {
    var s = hit.s, page = index.pages[s.page];
    var li = document.createElement("li");
    var link = document.createElement("a");
    link.href = root + page.url + (s.anchor ? "#" + s.anchor : "");
    var where = document.createElement("span");
    where.className = "course-result-page";
    where.textContent = page.title;
    link.appendChild(where);
    var heading = s.heading || page.title;  // the query's words marked in the heading too
    highlight(link, heading, heading.toLowerCase(), 0, heading.length, ws, mathSpans(heading));
    li.appendChild(link);
    var inText = ws.some(function (w) { return s.lt.indexOf(w) !== -1; });
    var text = inText ? s.text : s.code, lower = inText ? s.lt : s.lc;
    if (text) {
      var p = document.createElement("p"), holder = p;
      if (!inText) { holder = document.createElement("code"); p.appendChild(holder); }
      var w = excerpt(text, lower, ws);
      if (w.a > 0) holder.appendChild(document.createTextNode("… "));
      highlight(holder, text, lower, w.a, w.b, ws, w.spans);
      if (w.b < text.length) holder.appendChild(document.createTextNode(" …"));
      li.appendChild(p);
    }
    return li;
  }

  function run() {
    var query = input.value.trim();
    list.textContent = "";
    if (query.length < 2) { status.textContent = ""; return; }
    if (!index) { status.textContent = "Loading the search index…"; load(run); return; }
    var ws = words(query), hits = search(query), pages = {};
    hits.forEach(function (h) { pages[h.s.page] = true; });
    var n = Object.keys(pages).length;
    status.textContent = hits.length
      ? hits.length + (hits.length === 1 ? " section" : " sections") + " in " + n +
        (n === 1 ? " notebook" : " notebooks") + " match “" + query + "”" +
        (hits.length > MAX_RESULTS ? " (the first " + MAX_RESULTS + " shown)." : ".")
      : "Nothing matches “" + query + "”.";
    hits.slice(0, MAX_RESULTS).forEach(function (h) { list.appendChild(result(h, ws)); });
    if (window.MathJax && window.MathJax.Hub) window.MathJax.Hub.Queue(["Typeset", window.MathJax.Hub, list]);
  }

  function start() {
    input = document.getElementById("course-search-input");
    status = document.getElementById("course-search-status");
    list = document.getElementById("course-search-results");
    if (!input || !status || !list) return;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 120);
    });
    input.addEventListener("focus", function () { load(function () {}); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { input.value = ""; run(); }
      if (e.key === "Enter") {
        clearTimeout(timer);
        run();
        var first = list.querySelector("a");
        if (first) window.location.href = first.href;
      }
    });
    if (input.value) run();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
