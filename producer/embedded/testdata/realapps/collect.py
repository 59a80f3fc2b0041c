#!/usr/bin/env python3
"""Collects the real-application corpus (see README.md here): for each chosen public SAM
application, its template and the LIST of files of its code directories, written as empty
placeholder files (the planner needs paths, not content). Run from this directory:

    python3 collect.py MIRROR_ROOT

MIRROR_ROOT holds bare clones named owner+repo/repo (as the project's fetch tool lays them out).
apps.txt lists the chosen templates (repo key, path); it rewrites every app directory and apps.json.
What is ours, not the repositories' (layers.map, the local-layers/ placeholders it points at), is
kept beside this script in ours/<repo>/<app>/ and copied into each rewritten app directory.
"""
import json, os, posixpath, re, shutil, subprocess, sys

import yaml

MAX_FILES_PER_DIR = 40
SKIP_PARTS = {"node_modules", ".aws-sam", "__pycache__", ".git", "target", "bin", "obj", ".venv", "venv", "build", "dist", ".idea", ".vscode"}

REPOS = {
    # key: (owner+repo mirror name, licence file, licence name)
    "serverless-patterns": ("aws-samples+serverless-patterns", "LICENSE", "MIT-0"),
    "sessions-with-aws-sam": ("aws-samples+sessions-with-aws-sam", "LICENSE", "MIT-0"),
    "aws-sam-cli-app-templates": ("aws+aws-sam-cli-app-templates", "LICENSE", "Apache-2.0"),
}


class Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
        if suffix == "GetAtt":
            v = v.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        v = loader.construct_sequence(node, deep=True)
    else:
        v = loader.construct_mapping(node, deep=True)
    return {name: v}


Loader.add_multi_constructor("!", _tag)


def git(mirror, *args):
    return subprocess.run(["git", "--git-dir", mirror, *args], check=True, capture_output=True).stdout


def render_cookiecutter(mirror, tpl_path, text):
    import jinja2
    root = tpl_path.split("/{{")[0]
    ctx = json.loads(git(mirror, "show", f"HEAD:{root}/cookiecutter.json"))
    out = {}
    for k, v in ctx.items():
        out[k] = v[0] if isinstance(v, list) else v
    # What `sam init` passes with its defaults: the project name sam-app, one architecture.
    out["project_name"] = "sam-app"
    out["architectures"] = {"value": ["x86_64"]}
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    return env.from_string(text).render(cookiecutter=out)


def code_paths(doc):
    """Local paths (relative to the template) the template's functions and layers name."""
    res = doc.get("Resources") or {}
    glob = ((doc.get("Globals") or {}).get("Function") or {}) if isinstance(doc.get("Globals"), dict) else {}
    paths, fn_local = [], 0
    for rid, r in res.items():
        if not isinstance(r, dict):
            continue
        t, p = r.get("Type"), r.get("Properties") or {}
        if not isinstance(p, dict):
            continue
        if t == "AWS::Serverless::Function":
            if p.get("PackageType", glob.get("PackageType")) == "Image":
                meta = r.get("Metadata") or {}
                ctx = meta.get("DockerContext")
                if isinstance(ctx, str):
                    paths.append(("dir", ctx))
                    df = meta.get("Dockerfile")
                    if isinstance(df, str):
                        paths.append(("file", posixpath.join(ctx, df)))
                    fn_local += 1
                continue
            if "InlineCode" in p or "InlineCode" in glob:
                continue
            uri = p.get("CodeUri", glob.get("CodeUri", "."))
            if isinstance(uri, str) and "://" not in uri:
                paths.append(("any", uri))
                fn_local += 1
        elif t == "AWS::Lambda::Function":
            code = p.get("Code")
            if isinstance(code, str):
                paths.append(("any", code))
                fn_local += 1
        elif t in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            c = p.get("ContentUri", p.get("Content"))
            if isinstance(c, str) and "://" not in c:
                paths.append(("any", c))
    return paths, fn_local


OURS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ours")


def copy_ours(repo, app, dest):
    """Copies our own files of an application (ours/<repo>/<app>/...) into its directory."""
    src = os.path.join(OURS, repo, app)
    if os.path.isdir(src):
        shutil.copytree(src, dest, dirs_exist_ok=True)


def main():
    mirror_root = sys.argv[1]
    chosen = [l.split(None, 1) for l in open("apps.txt") if l.strip() and not l.startswith("#")]
    index = []
    for repo, tpl in chosen:
        tpl = tpl.strip()
        mname, lic, _ = REPOS[repo]
        mirror = os.path.join(mirror_root, mname, "repo")
        commit = git(mirror, "rev-parse", "HEAD").decode().strip()
        tree = set(git(mirror, "ls-tree", "-r", "--name-only", "HEAD").decode().splitlines())
        text = git(mirror, "show", f"HEAD:{tpl}").decode()
        rendered_tpl = tpl
        if "{{cookiecutter" in tpl:
            text = render_cookiecutter(mirror, tpl, text)
            rendered_tpl = tpl.replace("{{cookiecutter.project_name}}", "sam-app")
        doc = yaml.load(text, Loader=Loader)
        tdir = posixpath.dirname(tpl)
        files = {}
        for kind, p in code_paths(doc)[0]:
            full = posixpath.normpath(posixpath.join(tdir, p))
            if full in tree:
                files[full] = True
                continue
            under = sorted(f for f in tree if f.startswith(full + "/") and not (set(f[len(full) + 1:].split("/")) & SKIP_PARTS))
            for f in under[:MAX_FILES_PER_DIR]:
                files[f] = True
        files[tpl] = True
        root = posixpath.commonpath([tdir] + [posixpath.dirname(f) for f in files]) if tdir else ""
        app = tdir.replace("{{cookiecutter.project_name}}", "").strip("/").replace("//", "/").replace("/", "__") or "root"
        dest = os.path.join(repo, app)
        shutil.rmtree(dest, ignore_errors=True)
        for f in files:
            rel = posixpath.relpath(f, root) if root else f
            rel = rel.replace("{{cookiecutter.project_name}}", "sam-app")
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "w") as fh:
                # Empty, except Go files: a package clause keeps `gofmt -l .` quiet.
                fh.write(text if f == tpl else ("package placeholder\n" if f.endswith(".go") else ""))
        copy_ours(repo, app, dest)
        tpl_rel = (posixpath.relpath(tpl, root) if root else tpl).replace("{{cookiecutter.project_name}}", "sam-app")
        with open(os.path.join(dest, "NOTICE.md"), "w") as fh:
            fh.write(f"""# Notice

The template `{tpl_rel}` comes from https://github.com/{mname.replace('+', '/')} at commit
{commit}, path `{tpl}`{" (rendered with the defaults of `sam init`: project sam-app, x86_64)" if rendered_tpl != tpl else ""},
under the repository's licence ({REPOS[repo][2]}, ../LICENSE).
Every other file here is an EMPTY placeholder (Go files: only `package placeholder`) with the name of a file of that repository: the
planner needs the code directories' paths, not their content. No program code was copied.
""")
        with open(os.path.join(repo, "LICENSE"), "wb") as fh:
            fh.write(git(mirror, "show", f"HEAD:{lic}"))
        index.append({"app": f"{repo}/{app}", "template": tpl_rel, "source": f"https://github.com/{mname.replace('+', '/')}", "commit": commit, "path": tpl})
        print(dest, tpl_rel, len(files))
    with open("apps.json", "w") as fh:
        json.dump(sorted(index, key=lambda a: a["app"]), fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
