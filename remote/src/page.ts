// The page a GitHub deployment's log_url opens: GET /r/<uuid>.
//
// Until the team store has a dashboard, this small page is what a person
// reaches from a deployment on GitHub. It holds no record and no secret:
// the script asks for the team token (or takes it from the URL fragment,
// `#token=...`, which browsers never send to a server), keeps it in
// sessionStorage (gone with the tab), and reads the record through the
// authenticated record API. Record text is only ever set as textContent,
// and the content security policy allows no inline script at all.

/** Where the script is served; the page loads nothing else. */
export const SCRIPT_PATH = "/r/assets/record.js";

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; " +
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lcd record</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; max-width: 60em; }
  th { text-align: right; padding-right: 1em; vertical-align: top; color: #555; font-weight: normal; }
  td { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
  #error { color: #b00; }
</style>
</head>
<body>
<h1>lcd record</h1>
<p id="error" hidden></p>
<form id="ask" hidden>
  <label>Team store token <input id="token" type="password" autocomplete="off" required></label>
  <button type="submit">Show the record</button>
  <p>The token stays in this browser tab (sessionStorage). A link may carry it after <code>#token=</code>, which is never sent to the server.</p>
</form>
<table id="record" hidden></table>
<script src="${SCRIPT_PATH}"></script>
</body>
</html>
`;

const SCRIPT = `"use strict";
(function () {
  var KEY = "lcd-token";
  var id = decodeURIComponent(location.pathname.replace(/^\\/r\\//, ""));
  var fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  var form = document.getElementById("ask");
  var table = document.getElementById("record");
  var error = document.getElementById("error");
  function say(text) {
    error.textContent = text;
    error.hidden = !text;
  }
  function ask(text) {
    say(text);
    table.hidden = true;
    form.hidden = false;
  }
  function show(record) {
    table.replaceChildren();
    Object.keys(record).forEach(function (key) {
      var row = table.insertRow();
      var name = document.createElement("th");
      name.textContent = key;
      var cell = row.insertCell();
      var value = record[key];
      cell.textContent = value === null ? "-" : typeof value === "string" ? value : JSON.stringify(value);
      row.insertBefore(name, cell);
    });
    document.title = "lcd: " + (record.command || id);
    form.hidden = true;
    say("");
    table.hidden = false;
  }
  function load() {
    var token = sessionStorage.getItem(KEY);
    if (!token) return ask("");
    fetch("/api/commands/record/" + encodeURIComponent(id), {
      headers: { Authorization: "Bearer " + token },
      credentials: "omit",
      cache: "no-store",
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (response.status === 401) {
            sessionStorage.removeItem(KEY);
            return ask("The store refused this token: " + (body.error || response.status));
          }
          if (!response.ok) return say("No record to show: " + (body.error || response.status));
          show(body);
        });
      })
      .catch(function (e) {
        say("The store did not answer: " + e);
      });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
    load();
  });
  load();
})();
`;

/** The page of one record; the id is read by the script, never written into the page. */
export function recordPage(): Response {
  return new Response(HTML, { headers: { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS } });
}

/** The page's script. */
export function recordScript(): Response {
  return new Response(SCRIPT, {
    headers: { "content-type": "text/javascript; charset=utf-8", ...SECURITY_HEADERS },
  });
}
