from dassgnn.records.codec import canonical_json


def insert_old_run(store, task, arch_id, *, mode, seed, recipe, test_acc, teacher_id="", space=""):
    """Writes an ``ok`` run with only the columns that the store's (older) ``runs``
    table has, as a store written by an older dassgnn holds it."""
    columns = {r[1] for r in store._conn.execute("PRAGMA table_info(runs)")}
    row = {
        "task_key": task.key,
        "teacher_id": teacher_id,
        "arch_id": arch_id,
        "mode": mode,
        "seed": seed,
        "recipe_key": recipe.key,
        "recipe": canonical_json(recipe.to_dict()),
        "space_key": space,
        "library_version": "0.0.9",
        "status": "ok",
        "test_acc": test_acc,
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    row = {k: v for k, v in row.items() if k in columns}
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    store._conn.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(row.values()))
