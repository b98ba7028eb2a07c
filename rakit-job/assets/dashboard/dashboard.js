// The dashboard's only script. Every few seconds it re-reads the JSON API and updates the
// figures and tables of the page in place, without a reload. It writes text with
// textContent only, never HTML, so nothing a job carries can become markup.
(function () {
  "use strict";
  var base = document.documentElement.getAttribute("data-base") || "";
  var EVERY_MS = 3000;

  // A JSON value as a cell shows it; the server draws cells the same way.
  function cellText(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (Array.isArray(value)) return value.length ? value.map(cellText).join(", ") : "–";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  // Follows a path of names through the JSON: in an array, a name picks the item whose
  // queue or id it is, and "*" adds up the rest of the path over every item.
  function resolve(value, path) {
    for (var i = 0; i < path.length; i++) {
      var name = path[i];
      if (value === null || value === undefined) return undefined;
      if (Array.isArray(value)) {
        if (name === "*") {
          var rest = path.slice(i + 1);
          return value.reduce(function (sum, item) {
            return sum + (Number(resolve(item, rest)) || 0);
          }, 0);
        }
        value = value.find(function (item) {
          return item && (item.queue === name || item.id === name);
        });
      } else {
        value = value[name];
      }
    }
    return value;
  }

  function path(text) {
    return text ? text.split(" ") : [];
  }

  // Redraws a table's body from the rows in the answer, column by column.
  function redraw(table, json) {
    var rows = resolve(json, path(table.getAttribute("data-rows")));
    if (!Array.isArray(rows)) return;
    var columns = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return { key: th.getAttribute("data-col"), link: th.getAttribute("data-link") };
    });
    var body = document.createElement("tbody");
    if (rows.length === 0) {
      var tr = body.insertRow();
      var td = tr.insertCell();
      td.colSpan = columns.length;
      td.className = "empty";
      td.textContent = table.getAttribute("data-empty") || "";
    }
    rows.forEach(function (row) {
      var tr = body.insertRow();
      columns.forEach(function (column) {
        var td = tr.insertCell();
        var text = cellText(row[column.key]);
        if (column.link) {
          var a = document.createElement("a");
          a.href = base + "/" + column.link + encodeURIComponent(text);
          a.textContent = text;
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
      });
    });
    var old = table.tBodies[0];
    if (!old || old.innerHTML !== body.innerHTML) {
      if (old) table.replaceChild(body, old); else table.appendChild(body);
    }
  }

  // Sets each [data-key] element inside `region` to its value in the answer.
  function fill(region, json) {
    region.querySelectorAll("[data-key]").forEach(function (el) {
      var value = resolve(json, path(el.getAttribute("data-key")));
      var text = value === undefined ? (el.getAttribute("data-none") || "–") : cellText(value);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  function refresh(region) {
    var url = base + "/" + region.getAttribute("data-src");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return; }
        if (response.status === 404) { region.setAttribute("data-gone", ""); return; }
        if (!response.ok) return;
        region.removeAttribute("data-gone");
        return response.json().then(function (json) {
          if (region.tagName === "TABLE" && region.hasAttribute("data-rows")) redraw(region, json);
          else fill(region, json);
        });
      })
      .catch(function () { /* the next round tries again */ });
  }

  function tick() {
    if (document.hidden) { setTimeout(tick, EVERY_MS); return; }
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-src]"));
    document.querySelectorAll("img[data-refresh]").forEach(function (img) {
      var src = img.getAttribute("src").split("?")[0];
      img.setAttribute("src", src + "?t=" + Date.now());
    });
    Promise.all(regions.map(refresh)).then(function () {
      document.documentElement.setAttribute("data-refreshed", String(Date.now()));
      setTimeout(tick, EVERY_MS);
    });
  }

  // Buttons that delete for good ask first.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  setTimeout(tick, EVERY_MS);
})();
