// The jobclass memory page: "Retire" POSTs the entry's key to review/memory/retire with the page's
// CSRF token (fetched again once when Airflow refreshed its cookie).
"use strict";
(() => {
  const root = document.getElementById("memory");
  if (!root || root.dataset.mayLabel !== "true") return;
  let csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function post(body, retry) {
    const response = await fetch("review/memory/retire", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    if (response.status === 403 && retry) {
      const fresh = await fetch("review/csrf", { credentials: "same-origin" });
      if (fresh.ok) { csrf = (await fresh.json()).token; return post(body, false); }
    }
    return response;
  }

  document.querySelectorAll("tr.entry").forEach((row) => {
    const button = row.querySelector(".retire");
    const status = row.querySelector(".status");
    button.addEventListener("click", async () => {
      button.disabled = true;
      const response = await post({ memory_key: row.dataset.memoryKey }, true);
      const payload = await response.json().catch(() => ({}));
      if (!response.ok) {
        status.textContent = "Not retired: " + (typeof payload.detail === "string" ? payload.detail : response.status);
        button.disabled = false;
        return;
      }
      row.classList.add("retired");
      status.textContent = "Retired by " + payload.retired_by;
    });
  });
})();
