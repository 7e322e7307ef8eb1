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
