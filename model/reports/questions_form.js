// The explorer's questions (model/reports/questions_form.py): draws what the page computed,
// sends each change as an "answer" event, and shows the page's query string in the address.
// Text goes in through textContent only: nothing given here is parsed as HTML.
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let form = parentElement.querySelector("form");
  if (!form || form.dataset.shape !== shape(data)) {
    if (form) form.remove();
    form = build(data, setTriggerValue);
    parentElement.appendChild(form);
  }
  const groups = form.querySelectorAll("details");
  data.groups.forEach((group, i) => {
    const summary = groups[i].querySelector("summary");
    if (summary.textContent !== group.title) summary.textContent = group.title;
    for (const q of group.questions) {
      const select = form.elements.namedItem(q.id);
      if (select.value !== q.chosen) select.value = q.chosen;
    }
  });
  const query = new URLSearchParams(data.address).toString();
  const search = query ? "?" + query : "";
  if (window.location.search !== search) {
    const url = window.location.pathname + search + window.location.hash;
    window.history.replaceState(window.history.state, "", url);
  }
}

// The questions asked, in order: a new set (other priors) draws the form anew.
function shape(data) {
  return data.groups.map((g) => g.questions.map((q) => q.id).join(",")).join(";");
}

function build(data, setTriggerValue) {
  const form = document.createElement("form");
  form.dataset.shape = shape(data);
  form.addEventListener("submit", (event) => event.preventDefault());
  for (const group of data.groups) {
    const details = document.createElement("details");
    details.open = group.open;
    details.appendChild(document.createElement("summary"));
    for (const q of group.questions) {
      const label = document.createElement("label");
      label.htmlFor = "q-" + q.id;
      label.textContent = q.label;
      const help = document.createElement("span");
      help.id = "help-" + q.id;
      help.className = "help";
      help.textContent = q.help;
      const select = document.createElement("select");
      select.id = "q-" + q.id;
      select.name = q.id;
      select.setAttribute("aria-describedby", help.id);
      for (const [value, word] of q.choices) select.add(new Option(word, value));
      select.addEventListener("change", () =>
        setTriggerValue("answer", { [q.id]: select.value }),
      );
      details.append(label, help, select);
    }
    form.appendChild(details);
  }
  return form;
}
