use serde::Serialize;
use tera::{Context, Tera};

/// The page templates, embedded so the binary works outside the repository and in a container.
pub(crate) struct Pages {
    tera: Tera,
}

/// The stylesheet every page links to.
pub(crate) const STYLESHEET: &str = include_str!("../../../templates/assets/latchkey.css");

impl Pages {
    pub(crate) fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates([
            (
                "base.html",
                include_str!("../../../templates/pages/base.html"),
            ),
            (
                "error.html",
                include_str!("../../../templates/pages/error.html"),
            ),
        ])?;
        Ok(Self { tera })
    }

    /// Renders `template` from its typed view. Autoescaping is on for every `.html` template.
    pub(crate) fn render<V: Serialize>(
        &self,
        template: &str,
        view: &V,
    ) -> Result<String, tera::Error> {
        self.tera.render(template, &Context::from_serialize(view)?)
    }
}

/// The view of `error.html`: what happened, in a sentence, and what to do next.
#[derive(Serialize)]
pub(crate) struct ErrorView<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub hint: Option<&'a str>,
}
