/* The snippets of a counter's stats page: copy buttons, and the preview of the JavaScript snippet,
   which reads the value without counting a view. Without this script the snippets are still text
   to select, and the copy buttons stay hidden. */

"use strict";

const SHOW_COPIED_MS = 2000;

function showState(button, state, announcement) {
  button.querySelector(".copy-state").textContent = state;
  button.classList.toggle("copied", state === "Copied");
  document.getElementById("copy-status").textContent = announcement;
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => {
    button.querySelector(".copy-state").textContent = "Copy";
    button.classList.remove("copied");
  }, SHOW_COPIED_MS);
}

function copy(button) {
  const code = document.getElementById(button.dataset.copies);
  const what = button.querySelector(".visually-hidden").textContent.trim();
  navigator.clipboard.writeText(code.textContent).then(
    () => showState(button, "Copied", `Copied ${what}.`),
    () => {
      // The clipboard was refused: select the text, for the keyboard's copy.
      window.getSelection().selectAllChildren(code);
      showState(button, "Selected", `Could not copy; ${what} is selected.`);
    },
  );
}

function showValue(element) {
  fetch(element.dataset.valueFrom, {headers: {Accept: "application/json"}})
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(response.statusText))))
    .then((counter) => {
      element.textContent = counter.value;
    })
    .catch(() => {
      element.textContent = "not available now";
    });
}

if (navigator.clipboard) {
  for (const button of document.querySelectorAll("button[data-copies]")) {
    button.addEventListener("click", () => copy(button));
    button.hidden = false;
  }
}
for (const element of document.querySelectorAll("[data-value-from]")) {
  showValue(element);
}
