// The console shell: its navigation slots and the page registry.
//
// Every page of the console fills one slot. A page registers with
//
//   import { registerPage } from "./console.js";
//   registerPage("members", { init(ctx, mount) {...}, load(ctx) {...} });
//
// `mount` is the page's <section id="page-<slot>">: a slot's section is in index.html
// when the page is built in, else the shell creates an empty one. `init` runs once, after
// sign-in; `load` each time the page is shown and on Refresh (errors go to ctx.fail). A
// slot's nav entry shows once a page has registered for it (admin slots: for the admin
// only). Modules are found by the server: every static .js file whose first line is
// `// tollgate-console-module` is imported after the built-in pages (GET
// /dashboard/modules.json).

import { $, el } from "./api.js";

// [slot, nav label, section]: the order of the navigation.
export const SLOTS = [
  ["statistics", "Statistics", "user"],
  ["tokens", "Tokens", "user"],
  ["billing", "Billing", "user"],
  ["members", "Members & roles", "user"], // identity
  ["playground", "Playground", "user"],
  ["tickets", "Tickets", "user"], // risk
  ["admin-orgs", "Organisations & users", "admin"], // identity
  ["admin-accounts", "Accounts", "admin"], // admin-accounts.js (a module the server lists)
  ["admin-suspensions", "Suspensions", "admin"], // risk
  ["admin-risk", "Risk queue", "admin"], // risk
  ["admin-groups", "Groups", "admin"], // budgets
  ["admin-models", "Models & prices", "admin"], // admin-models.js
  ["admin-codes", "Redemption codes", "admin"],
  ["admin-channels", "Channels", "admin"],
];
const SECTION = new Map(SLOTS.map(([slot, , section]) => [slot, section]));
export const DEFAULT_PAGE = "statistics";

class Registry {
  constructor() {
    this.pages = new Map(); // slot -> {init, load, title}
    this.started = new Set();
  }

  register(slot, page) {
    if (!SECTION.has(slot)) throw new Error(`no console slot ${slot}: add it to SLOTS in console.js`);
    this.pages.set(slot, page);
  }

  mount(slot) {
    let section = $(`page-${slot}`);
    if (!section) {
      section = el("section", { class: "page", id: `page-${slot}`, dataset: { page: slot }, hidden: true });
      $("dashboard").append(section);
    }
    return section;
  }

  // The nav entries of the registered slots the viewer may open.
  drawNav(admin) {
    const item = ([slot, label]) => el("li", {}, el("a", { href: `#/${slot}`, id: `nav-${slot}`, dataset: { nav: slot } }, label));
    const visible = SLOTS.filter(([slot, , section]) => this.pages.has(slot) && (section === "user" || admin));
    $("nav-user").replaceChildren(...visible.filter(([s]) => SECTION.get(s) === "user").map(item));
    $("nav-admin").replaceChildren(...visible.filter(([s]) => SECTION.get(s) === "admin").map(item));
    $("nav-admin-section").hidden = !admin;
  }

  // The slot the location names, if the viewer may open it.
  current(admin) {
    const slot = window.location.hash.replace(/^#\/?/, "");
    const ok = this.pages.has(slot) && (SECTION.get(slot) === "user" || admin);
    return ok ? slot : DEFAULT_PAGE;
  }

  // Show a slot's page (and load it, unless `quiet`: refresh() loads it next).
  async show(ctx, slot, quiet = false) {
    this.mount(slot);
    for (const section of document.querySelectorAll("#dashboard > section.page")) section.hidden = section.dataset.page !== slot;
    for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.nav === slot);
    document.body.dataset.page = slot;
    if (!quiet) await this.load(ctx, slot);
  }

  async load(ctx, slot) {
    const page = this.pages.get(slot);
    if (!page) return;
    const mount = this.mount(slot);
    if (!this.started.has(slot)) {
      this.started.add(slot);
      if (page.init) await ctx.run(slot, () => page.init(ctx, mount));
    }
    if (page.load) await ctx.run(slot, () => page.load(ctx, mount));
  }
}

export const registry = new Registry();

export function registerPage(slot, page) {
  registry.register(slot, page);
}

// The other modules' pages: imported once, in the server's order.
export async function loadModules() {
  const response = await fetch("/dashboard/modules.json", { cache: "no-store" });
  if (!response.ok) return;
  const { modules } = await response.json();
  for (const name of modules) await import(`./${name}`);
}
