//! ESGF Data Reference Syntax: recognising dataset directories of CMIP6, CMIP5 and
//! CORDEX and deriving their dotted dataset ids and facets.

/// A DRS directory template: the project directory name and the facet of each level.
pub struct Template {
    pub project: &'static str,
    pub facets: &'static [&'static str],
    /// Number of `_`-separated parts of a file name without its time range.
    pub filename_parts: usize,
}

/// The templates cirrus recognises.
pub const TEMPLATES: &[Template] = &[
    Template {
        project: "cmip6",
        facets: &[
            "mip_era",
            "activity_id",
            "institution_id",
            "source_id",
            "experiment_id",
            "member_id",
            "table_id",
            "variable_id",
            "grid_label",
            "version",
        ],
        filename_parts: 6,
    },
    Template {
        project: "cmip5",
        facets: &[
            "project",
            "product",
            "institute",
            "model",
            "experiment",
            "time_frequency",
            "realm",
            "cmor_table",
            "ensemble",
            "version",
            "variable",
        ],
        filename_parts: 5,
    },
    Template {
        project: "cordex",
        facets: &[
            "project",
            "product",
            "domain",
            "institute",
            "driving_model",
            "experiment",
            "ensemble",
            "rcm_name",
            "rcm_version",
            "time_frequency",
            "variable",
            "version",
        ],
        filename_parts: 8,
    },
];

/// A directory recognised as a DRS dataset directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrsMatch {
    /// Dotted id, e.g. `CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619`.
    pub id: String,
    pub facets: Vec<(String, String)>,
    pub filename_parts: usize,
}

/// Match the directory components of a file (relative to its data root) against the
/// DRS templates. The project directory may sit anywhere below the root.
pub fn match_dir(components: &[&str]) -> Option<DrsMatch> {
    for t in TEMPLATES {
        for (i, c) in components.iter().enumerate() {
            if c.eq_ignore_ascii_case(t.project) && components.len() - i == t.facets.len() {
                let parts = &components[i..];
                if parts.iter().any(|p| p.is_empty() || p.contains('.')) {
                    continue;
                }
                return Some(DrsMatch {
                    id: parts.join("."),
                    facets: t.facets.iter().zip(parts).map(|(f, v)| ((*f).to_string(), (*v).to_string())).collect(),
                    filename_parts: t.filename_parts,
                });
            }
        }
    }
    None
}

/// The directory components a file's DRS directory is matched on: the data root's own
/// name, then the directories of the file's path relative to the root. A root may be
/// a project directory itself (`--data /esg/CMIP6`, `--data s3://bucket/cmip5`), whose
/// name is the DRS's first level.
pub fn dir_components<'a>(root: &'a std::path::Path, rel: &'a std::path::Path) -> Vec<&'a str> {
    let root_name = root.file_name().and_then(|n| n.to_str());
    let dirs = rel.parent().into_iter().flat_map(|p| p.iter().filter_map(|c| c.to_str()));
    root_name.into_iter().chain(dirs).collect()
}

/// True when a file-name part is a DRS time range (`185001-201412`, `20150101`,
/// `185001-186912-clim`).
pub fn is_time_range(part: &str) -> bool {
    let part = part.strip_suffix("-clim").unwrap_or(part);
    let mut pieces = part.split('-');
    let ok = |p: &str| (4..=14).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(a), None, None) => ok(a),
        (Some(a), Some(b), None) => ok(a) && ok(b),
        _ => false,
    }
}

/// The file-name stem without extension and time range, and whether it has the
/// template's standard number of parts.
pub fn file_stem(file_name: &str, filename_parts: usize) -> (String, bool) {
    let base = file_name.rsplit_once('.').map_or(file_name, |(b, _)| b);
    let mut parts: Vec<&str> = base.split('_').collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| is_time_range(p)) {
        parts.pop();
    }
    (parts.join("_"), parts.len() == filename_parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmip6_id() {
        let c: Vec<&str> =
            "CMIP6/ScenarioMIP/INM/INM-CM5-0/ssp245/r1i1p1f1/Amon/rlds/gr1/v20190619".split('/').collect();
        let m = match_dir(&c).expect("match");
        assert_eq!(m.id, "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619");
        assert_eq!(m.facets[3], ("source_id".into(), "INM-CM5-0".into()));
        let c: Vec<&str> =
            "badc/cordex/output/EUR-22/GERICS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/GERICS-REMO2015/v1/mon/tas/v20191029"
                .split('/')
                .collect();
        assert_eq!(
            match_dir(&c).expect("match").id,
            "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029"
        );
        assert!(match_dir(&["CMIP6", "x"]).is_none());
    }

    #[test]
    fn a_root_may_be_the_project_directory() {
        use std::path::Path;
        let rel = Path::new("output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas/tas_Amon_x.nc");
        for root in ["/esg/cmip5", "s3://bucket/data/cmip5"] {
            let m = match_dir(&dir_components(Path::new(root), rel)).expect("match");
            assert_eq!(m.id, "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas");
        }
        // a root above the project directory: the same id as before
        let rel = Path::new("CMIP6/ScenarioMIP/INM/INM-CM5-0/ssp245/r1i1p1f1/Amon/rlds/gr1/v20190619/f.nc");
        let m = match_dir(&dir_components(Path::new("/data/esgf"), rel)).expect("match");
        assert_eq!(m.id, "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619");
        // a root named like a project holding files that are not in DRS
        assert!(match_dir(&dir_components(Path::new("/data/CMIP6"), Path::new("misc/a.nc"))).is_none());
    }

    #[test]
    fn stems() {
        assert_eq!(
            file_stem("tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc", 5),
            ("tas_Amon_HadGEM2-ES_rcp85_r1i1p1".into(), true)
        );
        assert!(!file_stem("o3_AERmon_MPI-ESM1-2-LR_historical_r1i1p1f1_gn_185001_zm.nc", 6).1);
        assert!(file_stem("o3_AERmon_MPI-ESM1-2-LR_historical_r1i1p1f1_gn_185001.nc", 6).1);
    }
}
