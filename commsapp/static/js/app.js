// The little JavaScript commsapp has: toasts from HX-Trigger, and drag-and-drop lists.
document.addEventListener("toast", (event) => {
  const box = document.getElementById("toasts");
  if (!box) return;
  const toast = document.createElement("div");
  toast.className = "toast";
  toast.textContent = event.detail.value || event.detail.message || "";
  box.appendChild(toast);
  setTimeout(() => toast.remove(), 4000);
});

// A list with data-sortable-url posts its new order (the data-id of each child) after a drop.
document.addEventListener("DOMContentLoaded", () => {
  htmx.onLoad((root) => {
    root.querySelectorAll("[data-sortable-url]").forEach((list) => {
      if (list.sortableInstance) return;
      list.sortableInstance = new Sortable(list, {
        animation: 150,
        handle: list.dataset.sortableHandle || undefined,
        onEnd: () => {
          const ids = Array.from(list.children).map((el) => el.dataset.id).filter(Boolean);
          htmx.ajax("POST", list.dataset.sortableUrl, {
            source: list,
            target: list.dataset.sortableTarget || list,
            swap: list.dataset.sortableSwap || "none",
            values: { order: ids.join(",") },
          });
        },
      });
    });
  });
});

// The SMS counter's "replace smart punctuation" answer carries the new text in a <template>.
document.addEventListener("htmx:afterSwap", (event) => {
  event.detail.target.querySelectorAll("template[data-replace-textarea]").forEach((tpl) => {
    const textarea = document.getElementById(tpl.dataset.replaceTextarea);
    if (textarea) textarea.value = tpl.content.textContent;
    tpl.remove();
  });
});

// Answers to invalid input (422), conflicts (409), refused posts (400) and too-large uploads (413)
// carry HTML to show in place (the form with its errors): htmx would drop them, so swap them like
// any answer. Plain-text errors become a toast instead of being swallowed.
document.addEventListener("htmx:beforeSwap", (event) => {
  const detail = event.detail;
  if (!detail.isError) return;
  const type = detail.xhr.getResponseHeader("Content-Type") || "";
  if ([400, 409, 413, 422].includes(detail.xhr.status) && type.startsWith("text/html")) {
    detail.shouldSwap = true;
    detail.isError = false;
  } else if (detail.xhr.responseText) {
    document.dispatchEvent(new CustomEvent("toast", { detail: { value: detail.xhr.responseText } }));
  }
});

// Buttons with data-copy put their text (a template variable, spelled exactly) on the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("[data-copy]");
  if (!button) return;
  const text = button.dataset.copy;
  const done = () =>
    document.dispatchEvent(new CustomEvent("toast", { detail: { value: button.dataset.copiedLabel || text } }));
  const fallback = () => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
      done();
    } finally {
      area.remove();
    }
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else {
    fallback();
  }
});

// The notification picker's answer carries <template data-fill-field="id"> elements: their text goes
// into the composer field with that id, which then hears "input" and "change" like after typing.
document.addEventListener("htmx:afterSwap", (event) => {
  event.detail.target.querySelectorAll("template[data-fill-field]").forEach((tpl) => {
    const field = document.getElementById(tpl.dataset.fillField);
    if (field) {
      field.value = tpl.content.textContent;
      field.dispatchEvent(new Event("input", { bubbles: true }));
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }
    tpl.remove();
  });
});
