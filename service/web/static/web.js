// Progressive enhancement for the search page: with JavaScript, a search or a filter
// change fetches the server-rendered results and swaps them in place (the status line is
// an aria-live region, so the new count is announced); without it, the form just submits.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var results = document.getElementById("results");
  if (!form || !results || !window.fetch || !window.DOMParser) return;

  function load(url, push) {
    results.setAttribute("aria-busy", "true");
    return fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname !== location.pathname) {
          location.assign(url); // signed out meanwhile: let the browser follow the sign-in
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("results") || page.querySelector("main");
        results.innerHTML = fresh ? fresh.innerHTML : "";
        document.title = page.title;
        if (push) history.pushState({ url: url }, "", url);
      })
      .catch(function () { location.assign(url); })
      .finally(function () { results.removeAttribute("aria-busy"); });
  }

  function formUrl() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (String(value).trim()) params.append(key, value);
    });
    return form.action.split("?")[0] + "?" + params.toString();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    load(formUrl(), true);
  });
  form.addEventListener("change", function (event) {
    if (event.target.type === "checkbox" && form.q.value.trim()) load(formUrl(), true);
  });
  window.addEventListener("popstate", function () { load(location.href, false); });
}());
