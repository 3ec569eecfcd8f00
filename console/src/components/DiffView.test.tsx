import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { DiffView } from "./DiffView";

const body = Array.from({ length: 30 }, (_, i) => `require example.com/m${i} v1.0.0`);
const file = {
  path: "go.mod",
  repo: "billing",
  status: "modified" as const,
  before: ["module example.com/billing", "", "go 1.21", ...body].join("\n") + "\n",
  after: ["module example.com/billing", "", "go 1.26", ...body].join("\n") + "\n",
};

describe("DiffView", () => {
  it("highlights the removed and added lines and folds the long unchanged tail", async () => {
    const { container } = render(<DiffView file={file} mode="unified" />);
    expect(container.querySelector("tr.l-del .code")?.textContent).toBe("go 1.21");
    expect(container.querySelector("tr.l-add .code")?.textContent).toBe("go 1.26");
    expect(screen.getByText("+1")).toBeInTheDocument();
    expect(screen.getByText("−1")).toBeInTheDocument();
    expect(screen.queryByText("require example.com/m20 v1.0.0")).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: /27 unchanged lines/ }));
    expect(screen.getByText("require example.com/m20 v1.0.0")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /unchanged/ })).not.toBeInTheDocument();
  });

  it("puts the old line beside the new one in the split view", () => {
    const { container } = render(<DiffView file={file} mode="split" />);
    const changed = [...container.querySelectorAll("tr")].find((tr) => tr.querySelector("td.l-del"));
    const cells = [...(changed?.querySelectorAll("td.code") ?? [])].map((td) => td.textContent);
    expect(cells).toEqual(["go 1.21", "go 1.26"]);
  });

  it("shows a new file as all additions", () => {
    const { container } = render(<DiffView file={{ path: "a.txt", repo: "r", status: "new", after: "x\ny\n" }} mode="unified" />);
    expect(container.querySelectorAll("tr.l-add")).toHaveLength(2);
    expect(screen.getByText("new")).toBeInTheDocument();
  });
});
