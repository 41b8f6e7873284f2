// The drop page's drag and drop: files dropped anywhere on the page (or picked in the
// form) are sent one by one as raw bodies to POST /d/{token}?name=..., each with its own
// status line. Without this script the page's plain form still uploads one file.
const form = document.querySelector("form[data-drop]");
const input = form?.querySelector("input[type=file]");
const list = document.querySelector("[data-drop-status]");

function line(text) {
  const item = document.createElement("li");
  item.textContent = text;
  list.append(item);
  return item;
}

async function send(file) {
  const item = line(`${file.name}: sending…`);
  try {
    const response = await fetch(`${location.pathname}?name=${encodeURIComponent(file.name)}`, {
      method: "POST",
      body: file,
      headers: { Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    item.textContent = response.ok
      ? `${file.name}: received (${body.size} bytes)`
      : `${file.name}: not sent — ${body.error?.message ?? response.statusText}`;
  } catch {
    item.textContent = `${file.name}: not sent — the connection failed`;
  }
}

async function sendAll(files) {
  for (const file of files) {
    await send(file);
  }
}

if (form && input && list) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendAll([...input.files]);
    form.reset();
  });
  input.multiple = true;
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    sendAll([...(event.dataTransfer?.files ?? [])]);
  });
}
