// The console's one script, served by the plugin (no CDN): forms marked data-ct-action post their
// fields as JSON to their action (the plugin refuses anything but JSON, which a cross-site form cannot
// send), show the answer, and reload the page so it shows the new state.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.matches("form[data-ct-action]")) return;
  event.preventDefault();
  const body = {};
  for (const [key, value] of new FormData(form)) body[key] = value;
  if (form.dataset.ctConfirm && !window.confirm(form.dataset.ctConfirm)) return;
  const out = form.querySelector(".result") || form.appendChild(document.createElement("span"));
  out.className = "result muted";
  out.textContent = "working…";
  try {
    const response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      out.className = "result bad";
      out.textContent = answer.detail || `failed: HTTP ${response.status}`;
      return;
    }
    out.className = "result ok";
    out.textContent = answer.message || "done";
    window.setTimeout(() => window.location.reload(), 600);
  } catch (err) {
    out.className = "result bad";
    out.textContent = `failed: ${err}`;
  }
});
// Selects marked data-ct-go navigate to the URL in the chosen option's value.
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select.matches("select[data-ct-go]") && select.value) window.location.assign(select.value);
});
