// The jobclass review queue: accept a suggestion, search every occupation, or mark "not codable",
// by click or by key; "apply to all N" lists the pending postings with the same title, and the next
// decision on the card is POSTed for all of them (review/decisions/bulk). Decisions are POSTed as JSON to review/decisions (relative to the page) with
// the page's CSRF token; a stale token (Airflow refreshed its cookie) is fetched again once.
"use strict";
(() => {
  const root = document.getElementById("review");
  if (!root) return;
  const mayLabel = root.dataset.mayLabel === "true";
  const cards = Array.from(document.querySelectorAll(".posting"));
  let csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  let current = -1;

  function select(index) {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach((card, i) => card.classList.toggle("current", i === current));
    cards[current].scrollIntoView({ block: "nearest" });
  }

  function nextUndecided(from) {
    const later = cards.findIndex((card, i) => i > from && !card.classList.contains("decided"));
    return later >= 0 ? later : Math.min(from + 1, cards.length - 1);
  }

  async function post(body, retry, url) {
    url = url || "review/decisions";
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    if (response.status === 403 && retry) {
      const fresh = await fetch("review/csrf", { credentials: "same-origin" });
      if (fresh.ok) {
        csrf = (await fresh.json()).token;
        return post(body, false, url);
      }
    }
    return response;
  }

  async function decide(card, decision, code) {
    if (!mayLabel) return;
    const status = card.querySelector(".status");
    card.classList.remove("error");
    status.textContent = "Saving…";
    const bulk = card.dataset.bulk ? JSON.parse(card.dataset.bulk) : null;
    const noteInput = card.querySelector(".note");
    const note = noteInput && noteInput.value.trim() ? noteInput.value.trim() : null;
    const body = bulk
      ? { posting_ids: bulk, decision: decision, onet_code: code || "", note: note }
      : { posting_id: card.dataset.postingId, model_version: card.dataset.modelVersion, decision: decision, onet_code: code || "", note: note };
    let response;
    try {
      response = await post(body, true, bulk ? "review/decisions/bulk" : "review/decisions");
    } catch (err) {
      card.classList.add("error");
      status.textContent = "Not saved: " + err;
      return;
    }
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      card.classList.add("error");
      status.textContent = "Not saved: " + (typeof payload.detail === "string" ? payload.detail : response.status);
      return;
    }
    const text = (payload.decision === "coded"
      ? "Labelled " + payload.onet_code + " " + payload.title + " by " + payload.reviewer
      : "Marked not codable by " + payload.reviewer)
      + (bulk ? " (one decision on " + payload.recorded + " postings)" : "")
      + (payload.memory && payload.memory.evidence ? ". Memory: " + payload.memory.evidence : "");
    const decidedIds = bulk ? payload.posting_ids : [card.dataset.postingId];
    cards.filter((c) => decidedIds.includes(c.dataset.postingId)).forEach((c) => {
      c.classList.add("decided");
      c.querySelector(".status").textContent = text;
      const toggle = c.querySelector(".bulk-toggle");
      if (toggle) toggle.remove();
    });
    if (bulk) { delete card.dataset.bulk; card.querySelector(".group").hidden = true; }
    select(nextUndecided(cards.indexOf(card)));
  }

  // -- "apply to all N pending postings with this title": list them, then the next decision is for all
  async function toggleBulk(card, button) {
    const group = card.querySelector(".group");
    if (card.dataset.bulk) {
      delete card.dataset.bulk;
      group.hidden = true;
      button.setAttribute("aria-pressed", "false");
      return;
    }
    const response = await fetch("review/group?posting_id=" + encodeURIComponent(card.dataset.postingId), { credentials: "same-origin" });
    if (!response.ok) return;
    const found = await response.json();
    const list = document.createElement("ul");
    found.postings.forEach((p) => {
      const li = document.createElement("li");
      li.dataset.postingId = p.posting_id;
      li.textContent = p.posting_id + " · " + (p.title || "(no title)") + " · top " + p.onet_code + " (" + Number(p.score).toFixed(2) + ")";
      list.appendChild(li);
    });
    const head = document.createElement("p");
    head.className = "group-head";
    head.textContent = "Your next decision on this card applies to these " + found.n + " pending postings (one label each, marked as one bulk decision):";
    group.replaceChildren(head, list);
    group.hidden = false;
    card.dataset.bulk = JSON.stringify(found.postings.map((p) => p.posting_id));
    button.setAttribute("aria-pressed", "true");
  }

  // -- the occupation search (typeahead) --------------------------------------------------------
  function setupSearch(card) {
    const input = card.querySelector(".occupation-search");
    const list = card.querySelector(".results");
    let timer = null;
    let active = -1;
    let asked = 0;

    function mark(index) {
      const items = Array.from(list.children);
      active = items.length ? (index + items.length) % items.length : -1;
      items.forEach((li, i) => li.classList.toggle("active", i === active));
    }

    async function search() {
      const q = input.value.trim();
      const ticket = ++asked;
      if (!q) { list.replaceChildren(); return; }
      const response = await fetch("review/occupations?q=" + encodeURIComponent(q), { credentials: "same-origin" });
      if (!response.ok || ticket !== asked) return;
      const found = await response.json();
      list.replaceChildren(...found.map((o) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.dataset.code = o.code;
        li.textContent = o.code + " " + o.title;
        li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(o.code); });
        return li;
      }));
      mark(0);
    }

    function choose(code) {
      list.replaceChildren();
      input.value = "";
      input.blur();
      decide(card, "coded", code);
    }

    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 120); });
    input.addEventListener("focus", () => select(cards.indexOf(card)));
    input.addEventListener("blur", () => setTimeout(() => list.replaceChildren(), 150));
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") { event.preventDefault(); mark(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); mark(active - 1); }
      else if (event.key === "Escape") { list.replaceChildren(); input.blur(); }
      else if (event.key === "Enter") {
        event.preventDefault();
        const item = list.children[Math.max(active, 0)];
        if (item) choose(item.dataset.code);
      }
    });
  }

  cards.forEach((card, i) => {
    card.addEventListener("click", () => select(i));
    card.querySelectorAll(".accept").forEach((button) =>
      button.addEventListener("click", () => decide(card, "coded", button.dataset.code)));
    card.querySelector(".not-codable").addEventListener("click", () => decide(card, "not_codable", ""));
    const toggle = card.querySelector(".bulk-toggle");
    if (toggle) toggle.addEventListener("click", (event) => { event.stopPropagation(); toggleBulk(card, toggle); });
    setupSearch(card);
  });

  // -- keyboard shortcuts -------------------------------------------------------------------------
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
    if (!cards.length) return;
    if (current < 0) select(0);
    const card = cards[current];
    if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); select(current + 1); }
    else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); select(current - 1); }
    else if (/^[1-5]$/.test(event.key)) {
      const button = card.querySelector('.accept[data-rank="' + event.key + '"]');
      if (button && !button.disabled) { event.preventDefault(); decide(card, "coded", button.dataset.code); }
    } else if (event.key === "/") {
      const input = card.querySelector(".occupation-search");
      if (!input.disabled) { event.preventDefault(); input.focus(); }
    } else if (event.key === "x") { event.preventDefault(); decide(card, "not_codable", ""); }
  });

  if (cards.length) select(Math.max(0, cards.findIndex((card) => !card.classList.contains("decided"))));
})();
