// common/dmarc_report/xml_handles.hpp - RAII aliases for libxml2 handles (the only place their free functions
// are named) and the libzip aliases of common/util/zip_handles.hpp.
#pragma once
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "common/util/c_handle.hpp"
#include "common/util/zip_handles.hpp"

namespace mailmoat::dmarc_report {

using XmlDoc = util::CHandle<xmlDoc, xmlFreeDoc>;
using XmlBuffer = util::CHandle<xmlBuffer, xmlBufferFree>;
using XmlWriter = util::CHandle<xmlTextWriter, xmlFreeTextWriter>;
using XmlParserCtxt = util::CHandle<xmlParserCtxt, xmlFreeParserCtxt>;
using util::ZipArchive;
using util::ZipFile;
using util::ZipSource;

}  // namespace mailmoat::dmarc_report
