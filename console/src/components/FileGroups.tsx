import type { FileGroup, FileRef } from "../api/client";
import { httpUrl } from "../format";

/** FileGroups lists a candidate's files by context (prod, staging, base, ...) and repository. */
export function FileGroups({ groups }: { groups: FileGroup[] }) {
  if (groups.length === 0) return null;
  return (
    <section className="file-groups" aria-label="Files">
      <h3>Files</h3>
      {groups.map((g, i) => (
        <div key={i} className="file-group" data-group={g.name}>
          <div className="file-group-head">
            <strong>{g.name || "files"}</strong>
            {g.repo && (
              <span className="muted small">
                {" "}
                in <code>{g.repo}</code>
              </span>
            )}
          </div>
          {(g.files ?? []).length > 0 ? (
            <ul className="file-list">
              {(g.files ?? []).map((f, j) => (
                <li key={j}>
                  <FileLink file={f} />
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted small">No files listed.</p>
          )}
        </div>
      ))}
    </section>
  );
}

/** FileLink is a file labelled by its path: a link to its URL when that is http(s), plain text otherwise. */
function FileLink({ file }: { file: FileRef }) {
  const href = httpUrl(file.url);
  const label = file.path || file.url;
  if (!href) {
    return (
      <code className="file" title={file.url || undefined}>
        {label}
      </code>
    );
  }
  return (
    <a href={href} target="_blank" rel="noopener noreferrer" className="file">
      <code>{label}</code>
    </a>
  );
}
